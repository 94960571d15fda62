"""Camera frames of a phone showing a member QR code, with optional realism.

Frames are real OpenCV images (BGR ``uint8``), built the way a kiosk camera sees a phone:
a counter-top background, a dark phone body, a white screen with the QR code, then
optional degradations: rotation, blur, noise, perspective, low light, low contrast, and
frames where nothing is in view. ``degraded_frame_set`` gives a fixed, labelled set for
the decoder benchmark.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from simulators.camera.realism import REALISM

FRAME_SIZE = (640, 480)
"""(width, height) of a rendered frame: a typical kiosk webcam mode."""


def qr_modules(text: str, border: int = 4) -> np.ndarray:
    """The QR code for ``text`` as a 0/1 module matrix (1 = dark) with a quiet zone."""
    import segno

    code = segno.make_qr(text, error="m")
    rows = list(code.matrix_iter(scale=1, border=border))
    return np.array(rows, dtype=np.uint8)


def qr_image(text: str, module_px: int = 5, border: int = 4) -> np.ndarray:
    """The QR code as a grey image (black on white), ``module_px`` pixels per module."""
    modules = qr_modules(text, border)
    image = np.where(modules == 1, 0, 255).astype(np.uint8)
    return cv2.resize(
        image,
        (image.shape[1] * module_px, image.shape[0] * module_px),
        interpolation=cv2.INTER_NEAREST,
    )


def background(size: tuple[int, int] = FRAME_SIZE, seed: int = 0) -> np.ndarray:
    """An empty scene: a softly lit counter top with some texture (no code in it)."""
    width, height = size
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    light = 150 + 50 * np.exp(
        -(((xs - width * 0.6) / width) ** 2 + ((ys - height * 0.3) / height) ** 2) * 3
    )
    texture = cv2.GaussianBlur(rng.normal(0, 12, (height, width)).astype(np.float32), (0, 0), 3)
    grey = np.clip(light + texture, 0, 255)
    frame = np.stack([grey * 0.92, grey * 0.97, grey], axis=2)  # slightly warm light
    return frame.astype(np.uint8)


def phone_frame(
    text: str, size: tuple[int, int] = FRAME_SIZE, qr_fraction: float = 0.55, seed: int = 0
) -> np.ndarray:
    """A frame with a phone held up, screen showing the QR code for ``text``, upright."""
    width, height = size
    frame = background(size, seed)
    code = qr_image(text, module_px=1)
    side = int(min(width, height) * qr_fraction)
    module_px = max(1, side // code.shape[0])
    code = qr_image(text, module_px=module_px)
    side = code.shape[0]
    pad = max(12, side // 10)
    screen_w, screen_h = side + 2 * pad, side + 4 * pad
    x0, y0 = (width - screen_w) // 2, (height - screen_h) // 2
    body = 10
    cv2.rectangle(
        frame,
        (x0 - body, y0 - 2 * body),
        (x0 + screen_w + body, y0 + screen_h + 2 * body),
        (30, 30, 35),
        thickness=-1,
    )
    frame[y0 : y0 + screen_h, x0 : x0 + screen_w] = 250
    qy, qx = y0 + pad, x0 + pad
    frame[qy : qy + side, qx : qx + side] = code[:, :, None]
    return frame


def rotate(frame: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate about the centre (the phone held at an angle); corners filled by replication."""
    height, width = frame.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return cv2.warpAffine(frame, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)


def blur(frame: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur (out of focus, or moving)."""
    return cv2.GaussianBlur(frame, (0, 0), sigma)


def noise(frame: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Additive sensor noise."""
    noisy = frame.astype(np.float32) + rng.normal(0, sigma, frame.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def perspective(frame: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Tilt the picture: each corner pulled inwards by up to ``strength`` of the size."""
    height, width = frame.shape[:2]
    src = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    pull = rng.uniform(0, strength, (4, 2)) * np.array([width, height])
    inwards = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], dtype=np.float32)
    dst = (src + pull * inwards).astype(np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(frame, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)


def low_light(frame: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    """A dim room: brightness scaled to ``level`` (0-1) plus the noise a dark sensor adds."""
    dark = frame.astype(np.float32) * level
    return noise(np.clip(dark, 0, 255).astype(np.uint8), 3 + 6 * (1 - level), rng)


def low_contrast(frame: np.ndarray, level: float) -> np.ndarray:
    """Washed out (glare on the screen): contrast scaled to ``level`` (0-1) around grey."""
    washed = 128 + (frame.astype(np.float32) - 128) * level
    result: np.ndarray = np.clip(washed, 0, 255).astype(np.uint8)
    return result


def apply(frame: np.ndarray, condition: str, level: float, seed: int = 0) -> np.ndarray:
    """Apply one named degradation at ``level`` (degrees, sigma or fraction as fits)."""
    rng = np.random.default_rng(seed)
    ops: dict[str, Callable[[], np.ndarray]] = {
        "clean": lambda: frame.copy(),
        "rotate": lambda: rotate(frame, level),
        "blur": lambda: blur(frame, level),
        "noise": lambda: noise(frame, level, rng),
        "perspective": lambda: perspective(frame, level, rng),
        "low_light": lambda: low_light(frame, level, rng),
        "low_contrast": lambda: low_contrast(frame, level),
        "empty": lambda: noise(background((frame.shape[1], frame.shape[0]), seed), 4, rng),
    }
    if condition not in ops:
        raise ValueError(f"unknown condition {condition!r}; choose one of {', '.join(ops)}")
    return ops[condition]()


def render_sequence(
    text: str,
    count: int,
    realism: Sequence[str] = (),
    *,
    size: tuple[int, int] = FRAME_SIZE,
    seed: int = 0,
) -> list[np.ndarray]:
    """``count`` frames of a phone showing ``text`` as a hand would hold it.

    Each realism option is applied at a mild, randomly varying level per frame (rotation
    up to 25 degrees, blur sigma 0.6-1.4, ...). ``empty`` makes about one frame in eight a
    frame without the phone (held out of view for a moment, never long enough for the
    scanner to think the code left).
    """
    unknown = [r for r in realism if r not in REALISM]
    if unknown:
        raise ValueError(f"unknown realism {', '.join(unknown)}; choose from {', '.join(REALISM)}")
    rng = np.random.default_rng(seed)
    base = phone_frame(text, size, seed=seed)
    empty = background(size, seed + 1)
    frames: list[np.ndarray] = []
    for i in range(count):
        if "empty" in realism and i % 8 == 7:
            frames.append(noise(empty, 3, rng))
            continue
        frame = base
        if "perspective" in realism:
            frame = perspective(frame, rng.uniform(0.03, 0.12), rng)
        if "rotate" in realism:
            frame = rotate(frame, rng.uniform(-25, 25))
        if "low_contrast" in realism:
            frame = low_contrast(frame, rng.uniform(0.35, 0.6))
        if "low_light" in realism:
            frame = low_light(frame, rng.uniform(0.3, 0.6), rng)
        if "blur" in realism:
            frame = blur(frame, rng.uniform(0.6, 1.4))
        if "noise" in realism:
            frame = noise(frame, rng.uniform(4, 12), rng)
        frames.append(frame if frame is not base else base.copy())
    return frames


@dataclass(frozen=True)
class LabelledFrame:
    """One benchmark frame: what was done to it and what a decoder should find."""

    label: str
    condition: str
    level: float
    frame: np.ndarray
    expected: str | None
    """The text a perfect decoder finds, None for frames without a code."""


DEGRADED_SET: tuple[tuple[str, float], ...] = (
    ("clean", 0),
    ("rotate", 10),
    ("rotate", 30),
    ("rotate", 45),
    ("blur", 1.0),
    ("blur", 1.5),
    ("blur", 1.75),
    ("blur", 2.5),
    ("noise", 15),
    ("noise", 35),
    ("noise", 60),
    ("perspective", 0.1),
    ("perspective", 0.2),
    ("perspective", 0.3),
    ("low_light", 0.35),
    ("low_light", 0.15),
    ("low_contrast", 0.4),
    ("low_contrast", 0.2),
    ("low_contrast", 0.1),
    ("low_contrast", 0.05),
    ("small", 0.35),
    ("small", 0.25),
    ("empty", 0),
)
"""(condition, level) pairs of the labelled set, mild to harsh per condition. ``small`` is
the phone held far away: the QR code fills ``level`` of the frame height."""


def degraded_frame_set(text: str, seed: int = 0) -> list[LabelledFrame]:
    """The labelled degraded-frame set for ``text`` (for benchmarks and decoder tests)."""
    base = phone_frame(text, seed=seed)
    result = []
    for condition, level in DEGRADED_SET:
        label = condition if condition in ("clean", "empty") else f"{condition}_{level:g}"
        if condition == "small":
            frame = phone_frame(text, qr_fraction=level, seed=seed)
        else:
            frame = apply(base, condition, level, seed)
        result.append(
            LabelledFrame(
                label=label,
                condition=condition,
                level=level,
                frame=frame,
                expected=None if condition == "empty" else text,
            )
        )
    return result
