"""Draw the companion App's brand logo (the manifest's `brand.logo.default`).

Saleor accepts a square PNG of at least 256 px (saleor/thumbnail/validators.py
`validate_icon_image`, MIN_ICON_SIZE). Standard library only, deterministic:
`python scripts/make_logo.py` rewrites saleor_store_credit/static/dashboard/logo.png.
"""

import math
import struct
import zlib
from pathlib import Path

SIZE = 256
SAMPLES = 3  # per axis, for smooth edges
TEAL = (15, 118, 110)
WHITE = (255, 255, 255)
OUT = Path(__file__).resolve().parent.parent / "saleor_store_credit/static/dashboard/logo.png"


def _inside_rounded_square(x: float, y: float, radius: float = 52) -> bool:
    cx = min(max(x, radius), SIZE - radius)
    cy = min(max(y, radius), SIZE - radius)
    return (x - cx) ** 2 + (y - cy) ** 2 <= radius**2


def _inside_mark(x: float, y: float) -> bool:
    """A "C" ring open to the right around a coin: store credit."""
    dx, dy = x - SIZE / 2, y - SIZE / 2
    r = math.hypot(dx, dy)
    angle = abs(math.degrees(math.atan2(dy, dx)))
    ring = 62 <= r <= 90 and angle > 42
    coin = r <= 30
    return ring or coin


def _pixel(px: int, py: int) -> tuple[int, int, int, int]:
    covered = marked = 0
    for sy in range(SAMPLES):
        for sx in range(SAMPLES):
            x = px + (sx + 0.5) / SAMPLES
            y = py + (sy + 0.5) / SAMPLES
            if _inside_rounded_square(x, y):
                covered += 1
                marked += _inside_mark(x, y)
    if not covered:
        return (0, 0, 0, 0)
    share = marked / covered
    rgb = tuple(round(t + (w - t) * share) for t, w in zip(TEAL, WHITE))
    return (*rgb, round(255 * covered / SAMPLES**2))


def png() -> bytes:
    rows = b"".join(
        b"\x00" + bytes(v for px in range(SIZE) for v in _pixel(px, py)) for py in range(SIZE)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


if __name__ == "__main__":
    OUT.write_bytes(png())
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
