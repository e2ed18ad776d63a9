"""Replay plots (matplotlib, Agg): trajectories on the front camera, bird's-eye view, errors."""
from pathlib import Path
from typing import Dict, List

import numpy as np


def _pyplot():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def project_to_image(points_ego: np.ndarray, intrinsics: np.ndarray, cam_to_ego: np.ndarray,
                     ground_z_m: float = 0.0) -> np.ndarray:
    """Ego-frame ground points (M, 2) -> pixels (M, 2); NaN behind the camera."""
    pts = np.asarray(points_ego, dtype=np.float64).reshape(-1, 2)
    homo = np.concatenate([pts, np.full((len(pts), 1), ground_z_m), np.ones((len(pts), 1))], 1)
    cam = (np.linalg.inv(cam_to_ego) @ homo.T).T[:, :3]       # optical frame, z forward
    uv = (intrinsics @ cam.T).T
    with np.errstate(divide='ignore', invalid='ignore'):
        px = uv[:, :2] / uv[:, 2:3]
    px[cam[:, 2] <= 0.1] = np.nan
    return px


def _frame_by_stamp(report: Dict) -> Dict[int, Dict]:
    return {f['stamp_ns']: f for f in report['frames']}


def plot_camera(report: Dict, images: Dict[int, tuple], path: Path) -> None:
    """Planned (green) and recorded (white, dashed) trajectories over front-camera images."""
    if not images:
        return
    plt = _pyplot()
    frames = _frame_by_stamp(report)
    stamps = sorted(images)
    fig, axes = plt.subplots(1, len(stamps), figsize=(5 * len(stamps), 3.4), squeeze=False)
    for ax, stamp in zip(axes[0], stamps):
        rgb, k, t = images[stamp]
        ax.imshow(rgb)
        f = frames.get(stamp)
        if f is not None:
            _overlay(ax, np.array(f['waypoints'], dtype=float), k, t, 'lime', '-', 'plan')
            if f['truth_xy'] is not None:
                truth = np.array(f['truth_xy'], dtype=float)
                _overlay(ax, truth, k, t, 'white', '--', 'recorded')
        ax.set_xlim(0, rgb.shape[1])
        ax.set_ylim(rgb.shape[0], 0)
        ax.set_title(f't = {stamp / 1e9:.2f} s', fontsize=9)
        ax.axis('off')
    axes[0][0].legend(loc='lower left', fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _overlay(ax, pts_ego, k, t, color, style, label) -> None:
    pts = np.concatenate([np.zeros((1, 2)), pts_ego], 0)
    px = project_to_image(pts, k, t)
    ax.plot(px[:, 0], px[:, 1], style, color=color, marker='o', ms=3, lw=2, label=label)


def _plan_in_map(frame: Dict, track: np.ndarray) -> np.ndarray:
    """Planned waypoints (ego frame at the stamp) -> map frame via the recorded pose."""
    t = track[:, 0]
    x = np.interp(frame['stamp_ns'], t, track[:, 1])
    y = np.interp(frame['stamp_ns'], t, track[:, 2])
    yaw = np.interp(frame['stamp_ns'], t, np.unwrap(track[:, 3]))
    wp = np.concatenate([np.zeros((1, 2)), np.array(frame['waypoints'], dtype=float)], 0)
    c, s = np.cos(yaw), np.sin(yaw)
    return np.stack([x + c * wp[:, 0] - s * wp[:, 1], y + s * wp[:, 0] + c * wp[:, 1]], -1)


def plot_bev(report: Dict, track: np.ndarray, path: Path, every: int = 0) -> None:
    """Map-frame view: recorded drive (black) and every n-th planned trajectory (coloured)."""
    if track is None or not len(track) or not report['frames']:
        return
    plt = _pyplot()
    frames = report['frames']
    every = every or max(1, len(frames) // 25)
    fig, ax = plt.subplots(figsize=(7, 7))
    ax.plot(track[:, 1], track[:, 2], 'k-', lw=1.5, label='recorded drive')
    cmap = plt.get_cmap('viridis')
    for i, f in enumerate(frames[::every]):
        xy = _plan_in_map(f, track)
        ax.plot(xy[:, 0], xy[:, 1], '-', color=cmap(i / max(1, len(frames[::every]) - 1)),
                lw=1, alpha=0.8, label='plans (colour = time)' if i == 0 else None)
    ax.set_aspect('equal', adjustable='datalim')
    ax.set_xlabel('x map (m)')
    ax.set_ylabel('y map (m)')
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_errors(report: Dict, path: Path) -> None:
    """L2 at 1/2/3 s and heading error at 3 s over time."""
    frames = report['frames']
    if not frames:
        return
    plt = _pyplot()
    t0 = frames[0]['stamp_ns']
    t = np.array([(f['stamp_ns'] - t0) / 1e9 for f in frames])
    l2 = np.array([[np.nan if v is None else v for v in f['l2_m']] for f in frames])
    head = np.array([[np.nan if v is None else v for v in f['heading_err_rad']] for f in frames])
    fig, (a, b) = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
    for k, h in ((1, 1), (3, 2), (5, 3)):
        a.plot(t, l2[:, k], label=f'L2 @ {h} s')
    a.set_ylabel('L2 (m)')
    a.legend(fontsize=8)
    a.grid(alpha=0.3)
    b.plot(t, np.degrees(head[:, 5]), color='tab:red', label='heading error @ 3 s')
    b.set_ylabel('deg')
    b.set_xlabel('time since first frame (s)')
    b.legend(fontsize=8)
    b.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_plots(report: Dict, result, out_dir) -> List[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / 'camera_front.png', out / 'bev.png', out / 'errors.png']
    plot_camera(report, result.images, paths[0])
    plot_bev(report, result.ego_track, paths[1])
    plot_errors(report, paths[2])
    return [p for p in paths if p.exists()]
