#!/usr/bin/env python3
"""Writes a small corpus of hostile audio files (tests for "reject precisely, never crash").

Usage: python3 testdata/make-hostile.py [OUTDIR]      (default: testdata/hostile)

Needs Python 3 (stdlib only) and ffmpeg (for the real audio payloads; run with -bitexact so
the output is reproducible). Every file is small (the largest is a few hundred KB). What each
file tests:

  chap-nested.mp3       Valid 1 s MP3 (64 kbps mono, no Xing) behind an ID3v2.4 tag whose
                        CHAP frame embeds a CHAP frame, 200 deep (ID3v2 Chapter Frame
                        Addendum layout, syncsafe v2.4 frame sizes). Recursive tag parsers
                        must bound their depth (stack overflow otherwise).
  ctoc-nested.mp3       The same with CTOC frames (each lists its child's element ID and
                        embeds that child), 200 deep.
  wav-rate-0.wav        16-bit stereo PCM payload (0.5 s) with a sample rate of 0 (division
                        by zero when computing duration / byte rate).
  wav-rate-1.wav        Sample rate 1 Hz: the 0.5 s payload "lasts" 22050 s (resampler
                        ratio and duration extremes).
  wav-rate-max.wav      Sample rate 4294967295 Hz (byte rate wraps modulo 2^32).
  wav-channels-0.wav    0 channels (block align and byte rate 0 too: division by zero).
  wav-channels-255.wav  255 channels, block align 510 and byte rate consistent with that,
                        payload a whole number of 510-byte blocks (channel layout tables,
                        per-channel allocations, downmixing).
  wav-bits-0.wav        0 bits per sample (block align / byte rate left as for 16-bit stereo).
  wav-bits-64-int.wav   Integer PCM (format tag 1) at 64 bits per sample, real 64-bit payload.
  wav-huge-data-size.wav  data chunk declares 0xFFFFFFF0 bytes but holds 0.5 s (RIFF size is
                        the true file size - 8): duration from the header is a lie, reads
                        hit EOF early.
  vorbis-rate-max.ogg   Real 1 s Ogg Vorbis whose identification header says 4294967295 Hz
                        (page CRC recomputed, so the page itself is valid).
  opus-channels-255.ogg Real 1 s Ogg Opus whose OpusHead says 255 channels with mapping
                        family 0 (which allows only 1 or 2; CRC recomputed).
  flac-png-bomb.flac    Valid 1 s FLAC with a PICTURE block (type 3, front cover) holding a
                        12000x12000 8-bit grayscale PNG, all black: ~140 KB compressed,
                        144 MB decoded (432 MB as RGB). Covers must be decoded within limits.
  flac-png-wide.flac    The same with a 60000x1 PNG (aspect ratio 60000:1: a scaled edge
                        rounds to 0 px; the width exceeds common per-edge limits).
  mp3-apic-bomb.mp3     Valid 1 s MP3 with the 12000x12000 PNG in an ID3v2.3 APIC frame.
  mp4-deep-boxes.m4a    Valid 1 s AAC-LC M4A with 500 nested `udta` boxes inside moov/udta
                        (all sizes correct; moov stays after mdat so chunk offsets hold).

See testdata/hostile/README.md for what the server should do with each.
"""

import math
import os
import struct
import subprocess
import sys
import tempfile
import zlib

FF = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-nostdin"]
BX = ["-fflags", "+bitexact", "-flags:a", "+bitexact"]
SINE = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=1"]
DEPTH_ID3 = 200
DEPTH_MP4 = 500


def ffmpeg(args, out):
    subprocess.run(FF + SINE + BX + args + [out], check=True)
    with open(out, "rb") as f:
        return f.read()


# ---------------------------------------------------------------- ID3v2

def syncsafe(n):
    assert 0 <= n < 1 << 28
    return bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])


def frame(fid, body, version):
    size = syncsafe(len(body)) if version == 4 else struct.pack(">I", len(body))
    return fid + size + b"\0\0" + body


def tag(frames, version, padding=256):
    body = b"".join(frames) + b"\0" * padding
    return b"ID3" + bytes([version, 0, 0]) + syncsafe(len(body)) + body


def text_frame(fid, text, version):
    # Encoding 3 (UTF-8) exists only in v2.4; v2.3 gets ISO-8859-1 (encoding 0).
    if version == 4:
        return frame(fid, b"\x03" + text.encode("utf-8"), version)
    return frame(fid, b"\x00" + text.encode("latin-1"), version)


def chap_nested(depth):
    inner = text_frame(b"TIT2", "innermost chapter", 4)
    for i in reversed(range(depth)):
        body = (f"chp{i}".encode() + b"\0"
                + struct.pack(">IIII", 0, 1000, 0xFFFFFFFF, 0xFFFFFFFF)  # ms; offsets unused
                + inner)
        inner = frame(b"CHAP", body, 4)
    return inner


def ctoc_nested(depth):
    inner = text_frame(b"TIT2", "innermost table of contents", 4)
    for i in reversed(range(depth)):
        flags = 0x03 if i == 0 else 0x01  # top-level (root only) | ordered
        children = [f"toc{i + 1}".encode() + b"\0"] if i + 1 < depth else []
        body = f"toc{i}".encode() + b"\0" + bytes([flags, len(children)]) + b"".join(children) + inner
        inner = frame(b"CTOC", body, 4)
    return inner


def apic_v23(png):
    body = b"\x00" + b"image/png\0" + b"\x03" + b"\0" + png  # latin-1, front cover, no description
    return frame(b"APIC", body, 3)


# ---------------------------------------------------------------- WAV

def pcm16_stereo(seconds=0.5, rate=44100):
    out = bytearray()
    for n in range(int(seconds * rate)):
        left = int(0.3 * 32767 * math.sin(2 * math.pi * 440 * n / rate))
        right = int(0.3 * 32767 * math.sin(2 * math.pi * 660 * n / rate))
        out += struct.pack("<hh", left, right)
    return bytes(out)


def pcm64_stereo(seconds=0.1, rate=44100):
    out = bytearray()
    for n in range(int(seconds * rate)):
        for f in (440, 660):
            out += struct.pack("<q", int(0.3 * (2 ** 63 - 1) * math.sin(2 * math.pi * f * n / rate)))
    return bytes(out)


def wav(payload, channels, rate, bits, block_align=None, byte_rate=None, data_size=None, fmt_tag=1):
    if block_align is None:
        block_align = channels * bits // 8
    if byte_rate is None:
        byte_rate = (rate * block_align) & 0xFFFFFFFF  # wraps for absurd rates, as a writer's u32 would
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, byte_rate, block_align, bits)
    data_size = len(payload) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", data_size) + payload
    if len(payload) % 2:
        body += b"\0"
    return b"RIFF" + struct.pack("<I", len(body)) + body


# ---------------------------------------------------------------- Ogg

def _ogg_table():
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else (r << 1)
        table.append(r & 0xFFFFFFFF)
    return table


OGG_TABLE = _ogg_table()


def ogg_crc(data):
    crc = 0
    for b in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ OGG_TABLE[((crc >> 24) ^ b) & 0xFF]
    return crc


def ogg_pages(data):
    """Yields (offset, header_len, body_len) for each page."""
    pos = 0
    while pos < len(data):
        assert data[pos:pos + 4] == b"OggS", f"no Ogg page at {pos}"
        nseg = data[pos + 26]
        segs = data[pos + 27:pos + 27 + nseg]
        hlen = 27 + nseg
        yield pos, hlen, sum(segs)
        pos += hlen + sum(segs)


def ogg_fix_crc(buf, pos, hlen, blen):
    buf[pos + 22:pos + 26] = b"\0\0\0\0"
    buf[pos + 22:pos + 26] = struct.pack("<I", ogg_crc(bytes(buf[pos:pos + hlen + blen])))


def ogg_patch_first_packet(data, magic, offset, value):
    buf = bytearray(data)
    pos, hlen, blen = next(ogg_pages(data))
    body = pos + hlen
    assert buf[body:body + len(magic)] == magic, "first packet is not " + repr(magic)
    # Sanity check of the CRC routine against what ffmpeg wrote.
    assert struct.unpack("<I", buf[pos + 22:pos + 26])[0] == ogg_crc(
        bytes(buf[pos:pos + 22]) + b"\0\0\0\0" + bytes(buf[pos + 26:pos + hlen + blen]))
    buf[body + offset:body + offset + len(value)] = value
    ogg_fix_crc(buf, pos, hlen, blen)
    return bytes(buf)


# ---------------------------------------------------------------- PNG / FLAC

def png_chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def black_png(width, height):
    """8-bit grayscale, all zero, filter 0 on every row; compressed row by row (low memory)."""
    z = zlib.compressobj(9)
    row = b"\0" * (width + 1)
    idat = bytearray()
    for _ in range(height):
        idat += z.compress(row)
    idat += z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", bytes(idat)) + png_chunk(b"IEND", b"")


def flac_picture(png, width, height):
    mime, desc = b"image/png", b""
    return (struct.pack(">II", 3, len(mime)) + mime + struct.pack(">I", len(desc)) + desc
            + struct.pack(">IIIII", width, height, 8, 0, len(png)) + png)


def flac_insert_after_streaminfo(data, block_type, body):
    assert data[:4] == b"fLaC"
    blocks, pos = [], 4
    while True:
        hdr = data[pos]
        size = int.from_bytes(data[pos + 1:pos + 4], "big")
        blocks.append((hdr & 0x7F, data[pos + 4:pos + 4 + size]))
        pos += 4 + size
        if hdr & 0x80:
            break
    assert blocks[0][0] == 0, "first block is not STREAMINFO"
    assert len(body) < 1 << 24
    blocks.insert(1, (block_type, body))
    out = bytearray(b"fLaC")
    for i, (t, b) in enumerate(blocks):
        last = 0x80 if i == len(blocks) - 1 else 0
        out += bytes([last | t]) + len(b).to_bytes(3, "big") + b
    return bytes(out + data[pos:])


# ---------------------------------------------------------------- MP4

def mp4_boxes(data, start, end):
    pos = start
    while pos < end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        hlen = 8
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
            hlen = 16
        elif size == 0:
            size = end - pos
        yield pos, hlen, size, kind
        pos += size


def box(kind, body):
    return struct.pack(">I", 8 + len(body)) + kind + body


def mp4_deep(data, depth):
    tops = list(mp4_boxes(data, 0, len(data)))
    kinds = [k for _, _, _, k in tops]
    assert kinds.index(b"moov") > kinds.index(b"mdat"), "moov before mdat: inserting would shift chunk offsets"
    assert kinds[-1] == b"moov", "moov is not the last top-level box"
    mpos, mh, msize, _ = tops[-1]
    assert mh == 8
    moov_body = data[mpos + 8:mpos + msize]
    children = [(p, h, s, k) for p, h, s, k in mp4_boxes(data, mpos + 8, mpos + msize)]
    chain = box(b"free", b"")
    for _ in range(depth):
        chain = box(b"udta", chain)
    new_children = b""
    have_udta = False
    for p, h, s, k in children:
        raw = data[p:p + s]
        if k == b"udta":
            raw = box(b"udta", data[p + h:p + s] + chain)
            have_udta = True
        new_children += raw
    if not have_udta:
        new_children += box(b"udta", chain)
    assert len(moov_body) <= len(new_children)
    return data[:mpos] + box(b"moov", new_children)


# ---------------------------------------------------------------- main

def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "hostile")
    os.makedirs(out, exist_ok=True)
    files = {}
    with tempfile.TemporaryDirectory() as t:
        mp3 = ffmpeg(["-ac", "1", "-c:a", "libmp3lame", "-b:a", "64k", "-write_xing", "0", "-id3v2_version", "0"],
                     os.path.join(t, "a.mp3"))
        assert not mp3.startswith(b"ID3")
        files["chap-nested.mp3"] = tag([text_frame(b"TIT2", "Nested CHAP", 4), chap_nested(DEPTH_ID3)], 4) + mp3
        files["ctoc-nested.mp3"] = tag([text_frame(b"TIT2", "Nested CTOC", 4), ctoc_nested(DEPTH_ID3)], 4) + mp3

        pcm = pcm16_stereo()
        files["wav-rate-0.wav"] = wav(pcm, 2, 0, 16)
        files["wav-rate-1.wav"] = wav(pcm, 2, 1, 16)
        files["wav-rate-max.wav"] = wav(pcm, 2, 0xFFFFFFFF, 16)
        files["wav-channels-0.wav"] = wav(pcm, 0, 44100, 16)
        files["wav-channels-255.wav"] = wav(pcm[:len(pcm) // 510 * 510], 255, 44100, 16)
        files["wav-bits-0.wav"] = wav(pcm, 2, 44100, 0, block_align=4, byte_rate=44100 * 4)
        files["wav-bits-64-int.wav"] = wav(pcm64_stereo(), 2, 44100, 64)
        files["wav-huge-data-size.wav"] = wav(pcm, 2, 44100, 16, data_size=0xFFFFFFF0)

        ogg = ffmpeg(["-ac", "2", "-c:a", "libvorbis", "-q:a", "0"], os.path.join(t, "a.ogg"))
        # 0x01 "vorbis" (7) + vorbis_version (4) + audio_channels (1) -> audio_sample_rate at 12.
        files["vorbis-rate-max.ogg"] = ogg_patch_first_packet(ogg, b"\x01vorbis", 12, struct.pack("<I", 0xFFFFFFFF))
        opus = ffmpeg(["-ac", "2", "-c:a", "libopus", "-b:a", "32k"], os.path.join(t, "a.opus"))
        # "OpusHead" (8) + version (1) -> channel count at 9; mapping family stays 0.
        files["opus-channels-255.ogg"] = ogg_patch_first_packet(opus, b"OpusHead", 9, b"\xff")

        flac = ffmpeg(["-ac", "1", "-c:a", "flac", "-sample_fmt", "s16"], os.path.join(t, "a.flac"))
        bomb = black_png(12000, 12000)
        wide = black_png(60000, 1)
        files["flac-png-bomb.flac"] = flac_insert_after_streaminfo(flac, 6, flac_picture(bomb, 12000, 12000))
        files["flac-png-wide.flac"] = flac_insert_after_streaminfo(flac, 6, flac_picture(wide, 60000, 1))
        files["mp3-apic-bomb.mp3"] = tag([text_frame(b"TIT2", "APIC bomb", 3), apic_v23(bomb)], 3) + mp3

        m4a = ffmpeg(["-ac", "2", "-c:a", "aac", "-b:a", "64k"], os.path.join(t, "a.m4a"))
        files["mp4-deep-boxes.m4a"] = mp4_deep(m4a, DEPTH_MP4)

    for name, data in files.items():
        assert len(data) < 500_000, (name, len(data))
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        print(f"{len(data):>8}  {name}")


if __name__ == "__main__":
    main()
