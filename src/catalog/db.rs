//! The database seam under the catalog: what the shared SQL (`sql`) needs from an engine,
//! and nothing more. A statement takes positional arguments (`?1`, `?2`… in the SQL text,
//! which an engine may rewrite to its own placeholders) and answers rows of cells.
//!
//! Owns: [`Val`] (one cell or argument), [`ToArg`]/[`FromCell`] (typed values to and from
//! cells), [`Row`], [`Db`] (a connection or an open transaction) and [`Engine`] (reads on
//! any connection, writes in one transaction). Must not depend on an engine crate
//! (rusqlite, postgres) or name a table: `sqlite` and `postgres` implement it.

use super::{CatalogError, Result};
use crate::domain::{AlbumId, ArtistId, ContentHash, PlaylistId, TrackId, UserId};

/// One argument or cell: the five kinds both engines share.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Val<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// A value a statement can take as an argument.
pub(crate) trait ToArg {
    fn to_arg(&self) -> Val<'_>;
}

/// A value a cell can be read as.
pub(crate) trait FromCell: Sized {
    /// `None` when the cell's kind cannot be this type.
    fn from_cell(v: Val<'_>) -> Option<Self>;
}

/// One row of an answer.
pub(crate) trait Row {
    /// The cell in column `i` (0-based).
    fn cell(&self, i: usize) -> Result<Val<'_>>;
}

impl dyn Row + '_ {
    /// Column `i` as `T`; a cell of another kind is a backend error naming the column.
    pub(crate) fn get<T: FromCell>(&self, i: usize) -> Result<T> {
        let v = self.cell(i)?;
        T::from_cell(v).ok_or_else(|| backend(format!("column {i} holds {v:?}, not a {}", std::any::type_name::<T>())))
    }

    /// A blob column holding a content hash.
    pub(crate) fn hash(&self, i: usize) -> Result<ContentHash> {
        let b: Vec<u8> = self.get(i)?;
        ContentHash::try_from(b.as_slice()).map_err(|e| backend(format!("column {i}: {e}")))
    }

    /// A nullable hash column (an unreadable one counts as none).
    pub(crate) fn opt_hash(&self, i: usize) -> Result<Option<ContentHash>> {
        let b: Option<Vec<u8>> = self.get(i)?;
        Ok(b.and_then(|b| ContentHash::try_from(b.as_slice()).ok()))
    }
}

/// An engine's failure that is not the caller's: kept as the catalog's backend error.
pub(crate) fn backend(message: String) -> CatalogError {
    CatalogError::Backend(message.into())
}

/// A connection, or a transaction open on one.
pub(crate) trait Db {
    /// Runs a statement; the number of rows it changed.
    fn execute(&mut self, sql: &str, args: &[&dyn ToArg]) -> Result<u64>;
    /// Runs a query and hands each row to `f`, in order.
    fn each(&mut self, sql: &str, args: &[&dyn ToArg], f: &mut dyn FnMut(&dyn Row) -> Result<()>) -> Result<()>;
}

/// The typed ways to read answers, for any [`Db`].
pub(crate) trait DbExt: Db {
    /// The first row, mapped (`None`: no row).
    fn one<T>(&mut self, sql: &str, args: &[&dyn ToArg], f: impl FnOnce(&dyn Row) -> Result<T>) -> Result<Option<T>> {
        let mut f = Some(f);
        let mut out = None;
        self.each(sql, args, &mut |r| {
            if let Some(f) = f.take() {
                out = Some(f(r)?);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Every row, mapped.
    fn all<T>(&mut self, sql: &str, args: &[&dyn ToArg], mut f: impl FnMut(&dyn Row) -> Result<T>) -> Result<Vec<T>> {
        let mut out = Vec::new();
        self.each(sql, args, &mut |r| {
            out.push(f(r)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The first column of the first row (`None`: no row).
    fn value<T: FromCell>(&mut self, sql: &str, args: &[&dyn ToArg]) -> Result<Option<T>> {
        self.one(sql, args, |r| r.get(0))
    }

    /// The first column of a query that always answers one row (a `COUNT`, an `EXISTS`).
    fn scalar<T: FromCell>(&mut self, sql: &str, args: &[&dyn ToArg]) -> Result<T> {
        self.value(sql, args)?.ok_or_else(|| backend(format!("no row from {sql}")))
    }
}

impl<D: Db + ?Sized> DbExt for D {}

/// An engine: connections for reads, one transaction per write.
pub(crate) trait Engine: Send + Sync {
    /// Runs `f` on a connection (reads only).
    fn read(&self, f: &mut dyn FnMut(&mut dyn Db) -> Result<()>) -> Result<()>;
    /// Runs `f` in one transaction, committed if it returns `Ok`, rolled back otherwise.
    /// Writers run one at a time (the rules read, decide, then write).
    fn write(&self, f: &mut dyn FnMut(&mut dyn Db) -> Result<()>) -> Result<()>;
}

/// Runs `f` on a read connection of `engine` and returns what it returned (the seam takes
/// an untyped `FnMut`; this is the typed, run-once call every caller wants).
pub(crate) fn read<T>(engine: &dyn Engine, f: impl FnOnce(&mut dyn Db) -> Result<T>) -> Result<T> {
    let mut f = Some(f);
    let mut out = None;
    engine.read(&mut |db| {
        if let Some(f) = f.take() {
            out = Some(f(db)?);
        }
        Ok(())
    })?;
    out.ok_or_else(|| backend("the engine did not run the read".into()))
}

/// [`read`]'s twin for one write transaction.
pub(crate) fn write<T>(engine: &dyn Engine, f: impl FnOnce(&mut dyn Db) -> Result<T>) -> Result<T> {
    let mut f = Some(f);
    let mut out = None;
    engine.write(&mut |db| {
        if let Some(f) = f.take() {
            out = Some(f(db)?);
        }
        Ok(())
    })?;
    out.ok_or_else(|| backend("the engine did not run the write".into()))
}

/// Arguments as the `&[&dyn ToArg]` a statement takes.
macro_rules! args {
    ($($e:expr),* $(,)?) => { &[$(&$e as &dyn $crate::catalog::db::ToArg),*] };
}
pub(crate) use args;

impl ToArg for Val<'_> {
    fn to_arg(&self) -> Val<'_> {
        *self
    }
}

macro_rules! int_args {
    ($($t:ty),*) => {$(
        impl ToArg for $t {
            fn to_arg(&self) -> Val<'_> {
                Val::Int(i64::from(*self))
            }
        }
        impl FromCell for $t {
            fn from_cell(v: Val<'_>) -> Option<Self> {
                match v {
                    Val::Int(n) => <$t>::try_from(n).ok(),
                    _ => None,
                }
            }
        }
    )*};
}
int_args!(i64, i32, u32, u16, u8);

impl ToArg for u64 {
    fn to_arg(&self) -> Val<'_> {
        Val::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl FromCell for u64 {
    /// Counts and sizes: a negative cell reads as 0.
    fn from_cell(v: Val<'_>) -> Option<Self> {
        match v {
            Val::Int(n) => Some(n.max(0) as u64),
            _ => None,
        }
    }
}

impl ToArg for usize {
    fn to_arg(&self) -> Val<'_> {
        Val::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl ToArg for bool {
    fn to_arg(&self) -> Val<'_> {
        Val::Int(i64::from(*self))
    }
}

impl FromCell for bool {
    fn from_cell(v: Val<'_>) -> Option<Self> {
        match v {
            Val::Int(n) => Some(n != 0),
            _ => None,
        }
    }
}

impl ToArg for f64 {
    fn to_arg(&self) -> Val<'_> {
        Val::Real(*self)
    }
}

impl ToArg for f32 {
    fn to_arg(&self) -> Val<'_> {
        Val::Real(f64::from(*self))
    }
}

impl FromCell for f64 {
    fn from_cell(v: Val<'_>) -> Option<Self> {
        match v {
            Val::Real(x) => Some(x),
            Val::Int(n) => Some(n as f64),
            _ => None,
        }
    }
}

impl FromCell for f32 {
    fn from_cell(v: Val<'_>) -> Option<Self> {
        f64::from_cell(v).map(|x| x as f32)
    }
}

impl ToArg for str {
    fn to_arg(&self) -> Val<'_> {
        Val::Text(self)
    }
}

impl ToArg for String {
    fn to_arg(&self) -> Val<'_> {
        Val::Text(self)
    }
}

impl FromCell for String {
    fn from_cell(v: Val<'_>) -> Option<Self> {
        match v {
            Val::Text(s) => Some(s.to_string()),
            _ => None,
        }
    }
}

impl ToArg for [u8] {
    fn to_arg(&self) -> Val<'_> {
        Val::Blob(self)
    }
}

impl ToArg for Vec<u8> {
    fn to_arg(&self) -> Val<'_> {
        Val::Blob(self)
    }
}

impl ToArg for [u8; 32] {
    fn to_arg(&self) -> Val<'_> {
        Val::Blob(self)
    }
}

impl FromCell for Vec<u8> {
    fn from_cell(v: Val<'_>) -> Option<Self> {
        match v {
            Val::Blob(b) => Some(b.to_vec()),
            _ => None,
        }
    }
}

impl ToArg for ContentHash {
    fn to_arg(&self) -> Val<'_> {
        Val::Blob(&self.0)
    }
}

impl<T: ToArg + ?Sized> ToArg for &T {
    fn to_arg(&self) -> Val<'_> {
        (**self).to_arg()
    }
}

impl<T: ToArg> ToArg for Option<T> {
    fn to_arg(&self) -> Val<'_> {
        match self {
            Some(v) => v.to_arg(),
            None => Val::Null,
        }
    }
}

impl<T: FromCell> FromCell for Option<T> {
    fn from_cell(v: Val<'_>) -> Option<Self> {
        match v {
            Val::Null => Some(None),
            v => T::from_cell(v).map(Some),
        }
    }
}

/// The typed ids are integers in SQL.
macro_rules! id_cells {
    ($($t:ty),*) => {$(
        impl ToArg for $t {
            fn to_arg(&self) -> Val<'_> {
                Val::Int(self.0)
            }
        }
        impl FromCell for $t {
            fn from_cell(v: Val<'_>) -> Option<Self> {
                i64::from_cell(v).map(Self)
            }
        }
    )*};
}
id_cells!(UserId, TrackId, AlbumId, ArtistId, PlaylistId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_read_as_their_types_and_refuse_others() {
        assert_eq!(u8::from_cell(Val::Int(5)), Some(5));
        assert_eq!(u8::from_cell(Val::Int(300)), None, "out of range is not truncated");
        assert_eq!(u64::from_cell(Val::Int(-3)), Some(0));
        assert_eq!(Option::<String>::from_cell(Val::Null), Some(None));
        assert_eq!(String::from_cell(Val::Int(1)), None);
        assert_eq!(f64::from_cell(Val::Int(2)), Some(2.0));
        assert_eq!(bool::from_cell(Val::Int(2)), Some(true));
        assert_eq!(TrackId::from_cell(Val::Int(7)), Some(TrackId(7)));
        assert_eq!(Some(u64::MAX).to_arg(), Val::Int(i64::MAX));
        assert_eq!(None::<i64>.to_arg(), Val::Null);
    }
}
