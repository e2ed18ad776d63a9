"""Route videos (eval/video.py): one reused figure renders what a figure per frame does."""
import numpy as np

from orion_lite_ros.eval.video import FilmFrame, FrameRenderer, RouteFilm, render_frame


def _frame(step, plan=True):
    image = np.full((160, 256, 3), 90, np.uint8)
    k = np.array([[128.0, 0, 128], [0, 128.0, 80], [0, 0, 1]])
    cam_to_ego = np.array([[0, 0, 1, 0.8], [-1, 0, 0, 0], [0, -1, 0, 1.6], [0, 0, 0, 1.0]])
    plan_xy = np.stack([np.linspace(2, 20, 6), np.linspace(0, 2, 6)], -1) if plan else None
    agents = np.array([[12.0 + step, 3.0, 0.0, 4.5, 1.8]])
    return FilmFrame(step, image, k, cam_to_ego, np.array([float(step), 0.0, 0.0]), plan_xy,
                     agents, speed_mps=5.0, text='go')


def _green(im):
    return (im[..., 1] > 200) & (im[..., 0] < 100) & (im[..., 2] < 100)


def test_reused_figure_draws_each_frame_like_a_fresh_one(tmp_path):
    film = RouteFilm('r', np.stack([np.linspace(0, 100, 50), np.zeros(50)], -1))
    renderer = FrameRenderer(film, (160, 256))
    try:
        frames = [renderer.render(_frame(s, plan=s != 1)) for s in range(3)]
    finally:
        renderer.close()
    fresh = render_frame(film, _frame(2))
    assert frames[2].shape == fresh.shape and frames[0].dtype == np.uint8
    assert _green(frames[0]).sum() > 50 and _green(frames[1]).sum() == 0   # plan drawn / gone
    # the same frame, reused figure vs its own figure: the same picture (layout done once)
    assert np.abs(frames[2].astype(int) - fresh.astype(int)).mean() < 2.0
    film.frames = [_frame(s) for s in range(4)]
    out = film.write(tmp_path / 'r')
    assert out is not None and out.stat().st_size > 0
