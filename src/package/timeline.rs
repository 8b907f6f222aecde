//! The segment grid, shared by every rung so that players can switch between them.
//!
//! Boundaries sit on multiples of [`UNIT`] = 15 360 samples at 48 kHz (0.32 s), the least
//! common multiple of the Opus (960) and AAC (1024) frame lengths; 0.32 s is also a whole
//! number of samples at every common source rate (44.1 kHz: 14 112), so a boundary maps to
//! an exact source frame. Segment 0 is short (0.96 s) for a fast start; the rest are 3.84 s.
//!
//! A codec's packets are assigned to segments by *presentation* time: packet `j` decodes to
//! samples `[j·F, (j+1)·F)` and, after the encoder delay `D` is trimmed, presents from
//! `j·F − D`. Segment `k` holds the packets presenting from its start on, so AAC boundaries
//! are exact and Opus ones are within 312 samples (6.5 ms) of the grid.

use crate::encode::OUTPUT_RATE;

pub const UNIT: u64 = 15_360;
const FIRST_UNITS: u64 = 3;
const UNITS: u64 = 12;

/// Playable length of a rendition, in samples at [`OUTPUT_RATE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeline {
    pub frames: u64,
}

impl Timeline {
    /// The rendition length for a source of `frames` at `rate`.
    pub fn for_source(frames: u64, rate: u32) -> Timeline {
        let rate = u64::from(rate.max(1));
        let out = (u128::from(frames) * u128::from(OUTPUT_RATE)).div_ceil(u128::from(rate));
        Timeline { frames: out.min(u128::from(u64::MAX)) as u64 }
    }

    pub fn start(&self, k: u32) -> u64 {
        if k == 0 { 0 } else { (FIRST_UNITS + (u64::from(k) - 1) * UNITS) * UNIT }
    }

    pub fn end(&self, k: u32) -> u64 {
        if k + 1 >= self.segment_count() { self.frames } else { self.start(k + 1) }
    }

    /// Segments on the grid; a tail shorter than the first segment joins the one before it,
    /// so no segment is so short that its container overhead inflates its bitrate.
    pub fn segment_count(&self) -> u32 {
        if self.frames <= FIRST_UNITS * UNIT {
            return 1;
        }
        let rest = self.frames - FIRST_UNITS * UNIT;
        let mut n = 1 + rest.div_ceil(UNITS * UNIT);
        let tail = rest - (rest - 1) / (UNITS * UNIT) * (UNITS * UNIT);
        if tail < FIRST_UNITS * UNIT {
            n -= 1;
        }
        n.clamp(1, u64::from(u32::MAX)) as u32
    }

    pub fn duration_secs(&self, k: u32) -> f64 {
        (self.end(k) - self.start(k)) as f64 / f64::from(OUTPUT_RATE)
    }

    /// The segment that presents output sample `frame`.
    pub fn segment_at(&self, frame: u64) -> u32 {
        if frame < FIRST_UNITS * UNIT { 0 } else { ((1 + (frame - FIRST_UNITS * UNIT) / (UNITS * UNIT)) as u32).min(self.segment_count() - 1) }
    }
}

/// How one codec's packets fall onto the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub timeline: Timeline,
    pub frame_len: u64,
    pub delay: u64,
}

impl Layout {
    pub fn new(timeline: Timeline, frame_len: usize, delay: u32) -> Layout {
        Layout { timeline, frame_len: frame_len as u64, delay: u64::from(delay) }
    }

    /// Packets in the whole rendition: enough to present every playable sample.
    pub fn total_packets(&self) -> u64 {
        (self.timeline.frames + self.delay).div_ceil(self.frame_len)
    }

    pub fn first_packet(&self, k: u32) -> u64 {
        if k == 0 { 0 } else { ((self.timeline.start(k) + self.delay) / self.frame_len).min(self.total_packets()) }
    }

    /// The segment that holds packet `packet` (the last one past the end).
    pub fn segment_of_packet(&self, packet: u64) -> u32 {
        let mut k = self.timeline.segment_at((packet * self.frame_len).saturating_sub(self.delay));
        while k > 0 && self.first_packet(k) > packet {
            k -= 1;
        }
        while k + 1 < self.timeline.segment_count() && self.end_packet(k) <= packet {
            k += 1;
        }
        k
    }

    /// One past the last packet of segment `k`.
    pub fn end_packet(&self, k: u32) -> u64 {
        if k + 1 >= self.timeline.segment_count() { self.total_packets() } else { self.first_packet(k + 1) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_and_packets() {
        let t = Timeline::for_source(44_100 * 10, 44_100);
        assert_eq!(t.frames, 480_000);
        assert_eq!(t.segment_count(), 4); // 0.96 + 3.84 + 3.84 + 1.36
        assert_eq!((t.start(1), t.start(2)), (46_080, 230_400));
        assert!((t.duration_secs(3) - 1.36).abs() < 1e-9);
        let aac = Layout::new(t, 1024, 2048);
        assert_eq!(aac.first_packet(1), 47); // presents from 47·1024 − 2048 = 46 080
        assert_eq!(aac.total_packets(), 471);
        let opus = Layout::new(t, 960, 312);
        assert_eq!(opus.first_packet(1), 48);
        assert_eq!(opus.end_packet(3), 501);
        let mut n = 0;
        for k in 0..t.segment_count() {
            assert!(aac.end_packet(k) > aac.first_packet(k));
            n += aac.end_packet(k) - aac.first_packet(k);
        }
        assert_eq!(n, aac.total_packets());
        assert_eq!(t.segment_at(46_079), 0);
        assert_eq!(t.segment_at(46_080), 1);
        assert_eq!(Timeline { frames: 10 }.segment_count(), 1);
        // A 10 ms tail joins the segment before it.
        let t = Timeline { frames: 230_400 + 480 };
        assert_eq!(t.segment_count(), 2);
        assert_eq!(t.end(1), 230_880);
        assert_eq!(Timeline { frames: 46_080 + 100 }.segment_count(), 1);
    }
}
