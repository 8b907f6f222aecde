//! A byte-budgeted segmented LRU (SLRU): new entries enter a probation list; an entry hit
//! again moves to the protected list (at most 80 % of the budget). Eviction takes the least
//! recently used probation entry first, so a flood of one-off segments (a crawler, prefetch
//! nobody plays) cannot push out segments people replay. The total never exceeds the budget.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use bytes::Bytes;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum List {
    Probation,
    Protected,
}

struct Entry {
    bytes: Bytes,
    list: List,
    tick: u64,
}

pub struct Slru<K> {
    budget: u64,
    protected_budget: u64,
    map: HashMap<K, Entry>,
    probation: BTreeMap<u64, K>,
    protected: BTreeMap<u64, K>,
    protected_bytes: u64,
    bytes: u64,
    tick: u64,
    pub evictions: u64,
}

impl<K: Hash + Eq + Clone> Slru<K> {
    pub fn new(budget: u64) -> Slru<K> {
        Slru {
            budget,
            protected_budget: budget / 5 * 4,
            map: HashMap::new(),
            probation: BTreeMap::new(),
            protected: BTreeMap::new(),
            protected_bytes: 0,
            bytes: 0,
            tick: 0,
            evictions: 0,
        }
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn entries(&self) -> usize {
        self.map.len()
    }

    pub fn contains(&self, k: &K) -> bool {
        self.map.contains_key(k)
    }

    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    pub fn get(&mut self, k: &K) -> Option<Bytes> {
        let tick = self.next_tick();
        let e = self.map.get_mut(k)?;
        let size = e.bytes.len() as u64;
        match e.list {
            List::Probation => {
                self.probation.remove(&e.tick);
                e.list = List::Protected;
                self.protected_bytes += size;
            }
            List::Protected => {
                self.protected.remove(&e.tick);
            }
        }
        e.tick = tick;
        self.protected.insert(tick, k.clone());
        let out = e.bytes.clone();
        // Keep the protected list within its share: demote its oldest to probation.
        while self.protected_bytes > self.protected_budget {
            let Some((&t, _)) = self.protected.iter().next() else { break };
            let Some(key) = self.protected.remove(&t) else { break };
            let tick = self.next_tick();
            if let Some(e) = self.map.get_mut(&key) {
                self.protected_bytes -= e.bytes.len() as u64;
                e.list = List::Probation;
                e.tick = tick;
                self.probation.insert(tick, key);
            }
        }
        Some(out)
    }

    /// Inserts (or replaces) an entry. Entries larger than the whole budget are not kept.
    pub fn insert(&mut self, k: K, bytes: Bytes) {
        let size = bytes.len() as u64;
        self.remove(&k);
        if size > self.budget {
            return;
        }
        while self.bytes + size > self.budget {
            if !self.evict_one() {
                break;
            }
        }
        let tick = self.next_tick();
        self.probation.insert(tick, k.clone());
        self.map.insert(k, Entry { bytes, list: List::Probation, tick });
        self.bytes += size;
    }

    fn remove(&mut self, k: &K) {
        if let Some(e) = self.map.remove(k) {
            let size = e.bytes.len() as u64;
            self.bytes -= size;
            match e.list {
                List::Probation => {
                    self.probation.remove(&e.tick);
                }
                List::Protected => {
                    self.protected.remove(&e.tick);
                    self.protected_bytes -= size;
                }
            }
        }
    }

    fn evict_one(&mut self) -> bool {
        let victim = self.probation.iter().next().map(|(_, k)| k.clone()).or_else(|| self.protected.iter().next().map(|(_, k)| k.clone()));
        match victim {
            Some(k) => {
                self.remove(&k);
                self.evictions += 1;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(n: usize) -> Bytes {
        Bytes::from(vec![0u8; n])
    }

    #[test]
    fn budget_is_never_exceeded_and_hot_entries_survive_a_flood() {
        let mut c = Slru::new(10_000);
        c.insert("hot", b(1000));
        assert!(c.get(&"hot").is_some());
        for i in 0..1000 {
            c.insert(format!("cold{i}").leak() as &str, b(900));
            assert!(c.bytes() <= 10_000);
        }
        assert!(c.contains(&"hot"), "a replayed entry survives one-off traffic");
        assert!(c.evictions > 900);
        c.insert("huge", b(20_000));
        assert!(!c.contains(&"huge"));
        assert!(c.bytes() <= 10_000);
    }
}
