"""A short video per driven route: the front camera with the planned trajectory drawn in,
beside a bird's-eye view of the route, the ego, the other agents and the plan (no ROS).

`RouteFilm` collects one `FilmFrame` every `every_n` steps while a route is driven; `write()`
renders them with matplotlib (Agg) and encodes an MP4 (imageio-ffmpeg) or, where that is not
installed, an animated GIF (Pillow).
"""
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import numpy as np


@dataclass
class FilmFrame:
    step: int
    image: np.ndarray                 # (H, W, 3) uint8 front camera
    intrinsics: np.ndarray            # (3, 3) of `image`
    cam_to_ego: np.ndarray            # (4, 4) optical -> ego (REP-103)
    ego_pose: np.ndarray              # (3,) x, y, yaw, map frame
    plan_xy: Optional[np.ndarray]     # (T, 2) ego frame, or None (no plan yet)
    agents: np.ndarray                # (N, 5) x, y, yaw, length, width, map frame
    speed_mps: float = 0.0
    text: str = ''


@dataclass
class RouteFilm:
    route_id: str
    route_xy: np.ndarray              # (N, 2) map frame
    every_n: int = 5
    frames: List[FilmFrame] = field(default_factory=list)

    def wants(self, step: int) -> bool:
        return self.every_n > 0 and step % self.every_n == 0

    def add(self, frame: FilmFrame) -> None:
        self.frames.append(frame)

    def write(self, path: Path, fps: float = 8.0) -> Optional[Path]:
        """Render and encode; returns the file written (.mp4 or .gif), None without frames."""
        if not self.frames:
            return None
        renderer = FrameRenderer(self, self.frames[0].image.shape[:2])
        try:
            images = [renderer.render(f) for f in self.frames]
        finally:
            renderer.close()
        return encode(images, Path(path), fps)


def project_plan(plan_xy: np.ndarray, intrinsics: np.ndarray, cam_to_ego: np.ndarray,
                 ground_z_m: float = 0.0) -> np.ndarray:
    """(T, 2) ego-frame ground points -> (M, 2) pixels of those in front of the camera."""
    pts = np.concatenate([plan_xy, np.full((len(plan_xy), 1), ground_z_m),
                          np.ones((len(plan_xy), 1))], axis=1)
    cam = (np.linalg.inv(cam_to_ego) @ pts.T).T[:, :3]
    cam = cam[cam[:, 2] > 0.5]
    uv = (intrinsics @ cam.T).T
    return uv[:, :2] / uv[:, 2:3]


def _box(x, y, yaw, length, width):
    c, s = np.cos(yaw), np.sin(yaw)
    corners = np.array([[1, 1], [1, -1], [-1, -1], [-1, 1], [1, 1]]) * [length / 2, width / 2]
    return np.stack([x + c * corners[:, 0] - s * corners[:, 1],
                     y + s * corners[:, 0] + c * corners[:, 1]], axis=-1)


class FrameRenderer:
    """Renders the frames of one film on one matplotlib figure (Agg), whose artists are
    updated per frame: a new figure and layout per frame cost ~5x more (issue 16: the videos
    were a fifth of the main job's time)."""

    def __init__(self, film: RouteFilm, image_hw, bev_range_m: float = 50.0):
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        self.film, self.range_m, self._plt = film, float(bev_range_m), plt
        h, w = int(image_hw[0]), int(image_hw[1])
        self.fig, (ax_cam, ax_bev) = plt.subplots(
            1, 2, figsize=(9.6, 4.0), dpi=80, gridspec_kw={'width_ratios': [w / h, 1.0]})
        self.ax_bev = ax_bev
        self.image = ax_cam.imshow(np.zeros((h, w, 3), np.uint8))
        self.cam_plan, = ax_cam.plot([], [], '-o', color='lime', lw=2, ms=3)
        ax_cam.set_xlim(0, w)
        ax_cam.set_ylim(h, 0)
        ax_cam.axis('off')
        self.title = ax_cam.set_title(f'{film.route_id}  step 0  0.0 m/s', fontsize=8)
        ax_bev.plot(*np.asarray(film.route_xy, float).reshape(-1, 2).T, '--', color='0.5',
                    lw=1)
        self.agents, = ax_bev.plot([], [], color='tab:orange', lw=1.2)
        self.ego, = ax_bev.plot([], [], color='tab:blue', lw=2)
        self.bev_plan, = ax_bev.plot([], [], '-o', color='lime', lw=2, ms=3)
        ax_bev.set_aspect('equal')
        ax_bev.set_xlim(-self.range_m, self.range_m)
        ax_bev.set_ylim(-self.range_m, self.range_m)
        ax_bev.tick_params(labelsize=6)
        ax_bev.set_title('route (grey), ego (blue), agents (orange), plan (green)', fontsize=7)
        self.fig.tight_layout()

    def render(self, f: FilmFrame) -> np.ndarray:
        """One video frame (H, W, 3) uint8: camera left, bird's-eye view right."""
        self.image.set_data(f.image)
        uv = np.zeros((0, 2))
        if f.plan_xy is not None and len(f.plan_xy):
            uv = project_plan(np.concatenate([[[0.0, 0.0]], f.plan_xy]), f.intrinsics,
                              f.cam_to_ego).reshape(-1, 2)
        self.cam_plan.set_data(uv[:, 0], uv[:, 1])
        self.title.set_text(f'{self.film.route_id}  step {f.step}  {f.speed_mps:.1f} m/s  '
                            f'{f.text}')
        x, y, yaw = f.ego_pose
        boxes = [np.vstack([_box(*a), [np.nan, np.nan]])
                 for a in np.asarray(f.agents, float).reshape(-1, 5)]
        pts = np.concatenate(boxes) if boxes else np.zeros((0, 2))
        self.agents.set_data(pts[:, 0], pts[:, 1])
        self.ego.set_data(*_box(x, y, yaw, 4.9, 2.1).T)
        world = np.zeros((0, 2))
        if f.plan_xy is not None and len(f.plan_xy):
            c, s = np.cos(yaw), np.sin(yaw)
            world = np.concatenate([[[x, y]], np.stack(
                [x + c * f.plan_xy[:, 0] - s * f.plan_xy[:, 1],
                 y + s * f.plan_xy[:, 0] + c * f.plan_xy[:, 1]], -1)])
        self.bev_plan.set_data(world[:, 0], world[:, 1])
        self.ax_bev.set_xlim(x - self.range_m, x + self.range_m)
        self.ax_bev.set_ylim(y - self.range_m, y + self.range_m)
        self.fig.canvas.draw()
        return np.asarray(self.fig.canvas.buffer_rgba())[..., :3].copy()

    def close(self) -> None:
        self._plt.close(self.fig)


def render_frame(film: RouteFilm, f: FilmFrame, bev_range_m: float = 50.0) -> np.ndarray:
    """One video frame (H, W, 3) uint8 on a figure of its own (`FrameRenderer` for many)."""
    renderer = FrameRenderer(film, f.image.shape[:2], bev_range_m)
    try:
        return renderer.render(f)
    finally:
        renderer.close()


def encode(images: List[np.ndarray], path: Path, fps: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import imageio.v2 as imageio
        import imageio_ffmpeg  # noqa: F401  (the MP4 writer's binary)
        target = path.with_suffix('.mp4')
        even = [im[:im.shape[0] // 2 * 2, :im.shape[1] // 2 * 2] for im in images]
        imageio.mimwrite(str(target), even, fps=fps, codec='libx264', quality=6,
                         macro_block_size=1)
        return target
    except ImportError:
        from PIL import Image
        target = path.with_suffix('.gif')
        frames = [Image.fromarray(im) for im in images]
        frames[0].save(target, save_all=True, append_images=frames[1:],
                       duration=int(1000 / fps), loop=0)
        return target
