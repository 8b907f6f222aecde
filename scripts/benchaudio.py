"""Test music for the benchmark scripts: stereo 44.1 kHz FLACs of pink noise (seeded by
their index, so every run makes the same files), with a sine under it when `tone` gives
its frequency, made once by ffmpeg and reused."""
import os
import subprocess


def noise_flacs(directory, count, secs, tone=None):
    """`count` files `directory/NN.flac` of `secs` seconds; `tone(i)`, if given, is the Hz
    of file i's sine. Returns their paths."""
    os.makedirs(directory, exist_ok=True)
    out = []
    for i in range(count):
        p = f"{directory}/{i:02}.flac"
        if not os.path.exists(p):
            args = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"anoisesrc=d={secs}:c=pink:a=0.2:seed={i}"]
            if tone:
                args += ["-f", "lavfi", "-i", f"sine=f={tone(i)}:d={secs}",
                         "-filter_complex", "amix=inputs=2,aformat=sample_rates=44100:channel_layouts=stereo"]
            else:
                args += ["-ac", "2"]
            subprocess.run(args + ["-c:a", "flac", p], check=True)
        out.append(p)
    return out
