//! Ogg Opus for progressive streams: Ogg pages (RFC 3533) carrying an Opus stream
//! (RFC 7845): the `OpusHead` and `OpusTags` header packets, then audio pages whose granule
//! positions count 48 kHz samples including the pre-skip; the last page's granule trims the
//! padding of the final packet (RFC 7845 §4.4).

/// CRC-32 of Ogg pages: polynomial 0x04c11db7, no reflection, initial value 0 (RFC 3533 §6).
fn crc32(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let t = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let mut r = (i as u32) << 24;
            for _ in 0..8 {
                r = if r & 0x8000_0000 != 0 { (r << 1) ^ 0x04c1_1db7 } else { r << 1 };
            }
            *e = r;
        }
        t
    });
    data.iter().fold(0u32, |crc, &b| (crc << 8) ^ t[((crc >> 24) as u8 ^ b) as usize])
}

pub struct OggWriter {
    serial: u32,
    seq: u32,
}

pub const HEADER_BOS: u8 = 0x02;
pub const HEADER_EOS: u8 = 0x04;

impl OggWriter {
    pub fn new(serial: u32) -> OggWriter {
        OggWriter { serial, seq: 0 }
    }

    /// One page holding whole `packets` (RFC 3533 §6: lacing values of 255 continue a packet).
    /// Packets are at most 1275·3 bytes (Opus), so a page of up to 50 fits the 255 lacing slots.
    pub fn page(&mut self, packets: &[Vec<u8>], granule: u64, flags: u8) -> Vec<u8> {
        let mut lacing = Vec::new();
        for p in packets {
            let mut n = p.len();
            while n >= 255 {
                lacing.push(255u8);
                n -= 255;
            }
            lacing.push(n as u8);
        }
        let mut page = Vec::with_capacity(27 + lacing.len() + packets.iter().map(Vec::len).sum::<usize>());
        page.extend_from_slice(b"OggS");
        page.push(0);
        page.push(flags);
        page.extend_from_slice(&granule.to_le_bytes());
        page.extend_from_slice(&self.serial.to_le_bytes());
        page.extend_from_slice(&self.seq.to_le_bytes());
        page.extend_from_slice(&[0; 4]);
        page.push(lacing.len() as u8);
        page.extend_from_slice(&lacing);
        for p in packets {
            page.extend_from_slice(p);
        }
        let crc = crc32(&page);
        page[22..26].copy_from_slice(&crc.to_le_bytes());
        self.seq += 1;
        page
    }
}

/// RFC 7845 §5.1 identification header (little-endian, version 1, mapping family 0).
pub fn opus_head(channels: u8, pre_skip: u16, input_rate: u32) -> Vec<u8> {
    let mut h = b"OpusHead".to_vec();
    h.push(1);
    h.push(channels);
    h.extend_from_slice(&pre_skip.to_le_bytes());
    h.extend_from_slice(&input_rate.to_le_bytes());
    h.extend_from_slice(&0i16.to_le_bytes());
    h.push(0);
    h
}

/// RFC 7845 §5.2 comment header with the vendor string and no comments.
pub fn opus_tags() -> Vec<u8> {
    let vendor = concat!("tonearm ", env!("CARGO_PKG_VERSION"));
    let mut h = b"OpusTags".to_vec();
    h.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    h.extend_from_slice(vendor.as_bytes());
    h.extend_from_slice(&0u32.to_le_bytes());
    h
}

#[cfg(test)]
mod tests {
    #[test]
    fn crc_matches_the_reference_check_value() {
        // CRC-32/MPEG-2 without the final inversion and with init 0 ("CRC-32/BZIP2" differs);
        // the Ogg variant of "123456789" is 0x89a1897f.
        assert_eq!(super::crc32(b"123456789"), 0x89a1_897f);
    }
}
