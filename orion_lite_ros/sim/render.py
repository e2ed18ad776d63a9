"""Offscreen camera rendering with MuJoCo: one model per world, one Renderer for all cameras.

Static scenery is merged into a few flat meshes (road, kerbs, white and yellow markings) so
the scene has few geoms; vehicles and pedestrians are mocap bodies moved every step; lamp
colours are geom colours switched every step. Shadows, reflections and anti-aliasing are off.
"""
from dataclasses import dataclass
import os
from typing import Dict, List, Tuple

import numpy as np

from orion_lite_ros.layout import CAMERA_NAMES
from orion_lite_ros.sim import cameras as cam
from orion_lite_ros.sim import geometry as geo
from orion_lite_ros.sim.agents import AMBER, GREEN, RED
from orion_lite_ros.sim.roads import DASHED_WHITE, SOLID_YELLOW
from orion_lite_ros.sim.world import World

LAMP_ON = {RED: (1.0, 0.05, 0.05, 1), AMBER: (1.0, 0.65, 0.0, 1), GREEN: (0.1, 1.0, 0.25, 1)}
LAMP_OFF = (0.12, 0.12, 0.12, 1)
LAMP_ORDER = (RED, AMBER, GREEN)   # top to bottom


@dataclass(frozen=True)
class RenderConfig:
    size_hw: Tuple[int, int] = (160, 256)
    skybox: bool = True
    marking_width_m: float = 0.15
    dash_on_m: float = 3.0
    dash_off_m: float = 5.0
    # MuJoCo's offscreen GL backend when MUJOCO_GL is unset: 'egl' (Mesa on CPU, NVIDIA on GPU)
    # or 'osmesa'. Without it MuJoCo tries GLFW, which needs a display.
    gl_backend: str = 'egl'


def _strip_mesh(left: np.ndarray, right: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Triangles (vertices (2N, 3), faces (2N-2, 3)) between two polylines, facing up."""
    n = len(left)
    verts = np.zeros((2 * n, 3))
    verts[0::2, :2], verts[1::2, :2] = left, right
    faces = []
    for i in range(n - 1):
        a, b, c, d = 2 * i, 2 * i + 1, 2 * i + 2, 2 * i + 3
        faces += [(a, b, d), (a, d, c)]
    return verts, np.array(faces)


def _line_strips(poly: np.ndarray, width_m: float, dashed: bool, cfg: RenderConfig) -> list:
    poly = geo.resample(poly, 1.0)
    if not dashed:
        pieces = [poly]
    else:
        s = geo.arc_length(poly)
        phase = s % (cfg.dash_on_m + cfg.dash_off_m) < cfg.dash_on_m
        starts = np.flatnonzero(phase & ~np.roll(phase, 1))
        pieces = []
        for i0 in starts:
            i1 = i0
            while i1 + 1 < len(poly) and phase[i1 + 1]:
                i1 += 1
            if i1 > i0:
                pieces.append(poly[i0:i1 + 1])
    return [(geo.offset(p, 0.5 * width_m), geo.offset(p, -0.5 * width_m)) for p in pieces]


def _mesh_xml(name: str, strips: List[Tuple[np.ndarray, np.ndarray]]) -> str:
    verts, faces, base = [], [], 0
    for left, right in strips:
        if len(left) < 2:
            continue
        v, f = _strip_mesh(left, right)
        verts.append(v)
        faces.append(f + base)
        base += len(v)
    v, f = np.concatenate(verts), np.concatenate(faces)
    vs = ' '.join(f'{x:.3f}' for x in v.ravel())
    fs = ' '.join(str(int(i)) for i in f.ravel())
    return f'<mesh name="{name}" vertex="{vs}" face="{fs}" inertia="shell"/>'


def _static_geom(pos, yaw, size, rgba, gtype='box', name='') -> str:
    q = _quat(yaw)
    nm = f' name="{name}"' if name else ''
    return (f'<geom{nm} type="{gtype}" pos="{pos[0]:.3f} {pos[1]:.3f} {pos[2]:.3f}" '
            f'quat="{q[0]:.5f} 0 0 {q[3]:.5f}" size="{" ".join(f"{s:.3f}" for s in size)}" '
            f'rgba="{" ".join(f"{c:.3f}" for c in rgba)}"/>')


def _quat(yaw: float) -> np.ndarray:
    return np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])


def _scenery_assets(world: World, cfg: RenderConfig) -> str:
    m = world.road_map
    white, yellow = [], []
    for poly, style in m.markings:
        target = yellow if style == SOLID_YELLOW else white
        target += _line_strips(poly, cfg.marking_width_m, style == DASHED_WHITE, cfg)
    for line in [li.stop_line for li in world.lights] + [s.stop_line for s in world.stop_signs]:
        p, h, hw = np.asarray(line.xy), line.heading_rad, line.half_width_m
        across = np.array([-np.sin(h), np.cos(h)]) * hw
        fwd = np.array([np.cos(h), np.sin(h)]) * 0.2
        white.append((np.array([p + across - fwd, p + across + fwd]),
                      np.array([p - across - fwd, p - across + fwd])))
    meshes = [_mesh_xml('road', m.surfaces), _mesh_xml('kerb', m.kerbs),
              _mesh_xml('white', white)]
    if yellow:
        meshes.append(_mesh_xml('yellow', yellow))
    return '\n'.join(meshes)


def _scenery_geoms(world: World) -> str:
    lo, hi = world.road_map.bounds()
    centre, half = 0.5 * (lo + hi), 0.5 * (hi - lo) + 300.0
    out = [f'<geom type="plane" pos="{centre[0]:.1f} {centre[1]:.1f} 0" '
           f'size="{half[0]:.1f} {half[1]:.1f} 1" rgba="0.33 0.45 0.25 1"/>',
           '<geom type="mesh" mesh="road" pos="0 0 0.02" rgba="0.32 0.32 0.33 1"/>',
           '<geom type="mesh" mesh="kerb" pos="0 0 0.04" rgba="0.7 0.7 0.68 1"/>',
           '<geom type="mesh" mesh="white" pos="0 0 0.05" rgba="0.95 0.95 0.95 1"/>']
    if any(style == SOLID_YELLOW for _, style in world.road_map.markings):
        out.append('<geom type="mesh" mesh="yellow" pos="0 0 0.05" rgba="0.95 0.75 0.1 1"/>')
    for o in world.obstacles:
        if o.kind == 'cone':
            out.append(_static_geom((o.x_m, o.y_m, 0.35), 0.0, (0.2, 0.35), o.rgba, 'cylinder'))
        else:
            out += _car_geoms((o.x_m, o.y_m), o.yaw_rad, o.length_m, o.width_m, o.rgba)
    for light in world.lights:
        out += _light_geoms(light)
    for sign in world.stop_signs:
        x, y = sign.sign_xy
        out.append(_static_geom((x, y, 1.1), 0.0, (0.05, 1.1), (0.5, 0.5, 0.5, 1), 'cylinder'))
        out.append(_static_geom((x, y, 2.3), sign.facing_yaw_rad, (0.03, 0.38, 0.38),
                                (0.85, 0.05, 0.05, 1)))
    return '\n'.join(out)


def _car_geoms(xy, yaw, length_m, width_m, rgba, body=False) -> List[str]:
    """Lower body + darker cabin; in a mocap body (``body``) the pose is the body's."""
    pos0 = (0.0, 0.0) if body else xy
    yaw0 = 0.0 if body else yaw
    glass = (0.15, 0.18, 0.22, 1)
    shift = -0.08 * length_m * np.array([np.cos(yaw0), np.sin(yaw0)])
    return [_static_geom((pos0[0], pos0[1], 0.6), yaw0, (0.5 * length_m, 0.5 * width_m, 0.42),
                         rgba),
            _static_geom((pos0[0] + shift[0], pos0[1] + shift[1], 1.27), yaw0,
                         (0.27 * length_m, 0.45 * width_m, 0.26), glass)]


def _light_geoms(light) -> List[str]:
    x, y, z = light.head_xyz
    yaw = light.facing_yaw_rad
    face = np.array([np.cos(yaw), np.sin(yaw)])
    out = [_static_geom((x, y, 0.5 * z), 0.0, (0.08, 0.5 * z), (0.3, 0.3, 0.3, 1), 'cylinder'),
           _static_geom((x, y, z), yaw, (0.15, 0.28, 0.65), (0.08, 0.08, 0.08, 1))]
    for k, state in enumerate(LAMP_ORDER):
        p = (x + 0.16 * face[0], y + 0.16 * face[1], z + 0.4 - 0.4 * k)
        out.append(_static_geom(p, yaw, (0.04, 0.18, 0.18), LAMP_OFF,
                                name=f'{light.light_id}_{state}'))
    return out


def _mover_bodies(world: World) -> str:
    out = []
    for v in world.vehicles:
        geoms = '\n'.join(_car_geoms((0, 0), 0.0, v.length_m, v.width_m, v.rgba, body=True))
        out.append(f'<body name="{v.agent_id}" mocap="true">{geoms}</body>')
    for p in world.pedestrians:
        out.append(f'<body name="{p.agent_id}" mocap="true">'
                   '<geom type="capsule" fromto="0 0 0.35 0 0 1.35" size="0.22" '
                   'rgba="0.2 0.25 0.6 1"/><geom type="sphere" pos="0 0 1.6" size="0.13" '
                   'rgba="0.85 0.65 0.5 1"/></body>')
    return '\n'.join(out)


def _ego_body(size_hw) -> str:
    cams = []
    for name in CAMERA_NAMES:
        pose = cam.BENCH2DRIVE_RIG[name]
        _, right, up = cam.axes_in_ego(pose)
        fovy = np.degrees(cam.vertical_fov_rad(pose, size_hw))
        axes = ' '.join(f'{a:.6f}' for a in np.concatenate([right, up]))
        cams.append(f'<camera name="{name}" pos="{pose.x_m} {pose.y_m} {pose.z_m}" '
                    f'xyaxes="{axes}" fovy="{fovy:.4f}"/>')
    return '<body name="ego" mocap="true">' + ''.join(cams) + '</body>'


def scene_xml(world: World, cfg: RenderConfig) -> str:
    h, w = cfg.size_hw
    sky = ('<texture type="skybox" builtin="gradient" rgb1="0.55 0.7 0.92" rgb2="0.85 0.88 0.92"'
           ' width="16" height="16"/>') if cfg.skybox else ''
    return f"""<mujoco model="orion_lite_sim">
<statistic extent="100" center="0 0 0"/>
<visual><global offwidth="{w}" offheight="{h}"/>
<quality shadowsize="0" offsamples="0"/><map znear="0.003" zfar="6"/>
<headlight ambient="0.55 0.55 0.55" diffuse="0.45 0.45 0.45" specular="0 0 0"/></visual>
<default><geom contype="0" conaffinity="0"/></default>
<asset>{sky}
{_scenery_assets(world, cfg)}</asset>
<worldbody>
{_scenery_geoms(world)}
{_mover_bodies(world)}
{_ego_body(cfg.size_hw)}
</worldbody></mujoco>"""


class CameraRenderer:
    """Renders the six rig cameras of ``world`` (rebuild one per loaded world)."""

    def __init__(self, world: World, cfg: RenderConfig = RenderConfig()):
        os.environ.setdefault('MUJOCO_GL', cfg.gl_backend)   # read by mujoco at import
        import mujoco  # imported here so physics-only users never need a GL context
        self._mj = mujoco
        self.cfg = cfg
        self.model = mujoco.MjModel.from_xml_string(scene_xml(world, cfg))
        self.data = mujoco.MjData(self.model)
        h, w = cfg.size_hw
        self.renderer = mujoco.Renderer(self.model, height=h, width=w)
        flags = self.renderer.scene.flags
        for flag in ('mjRND_SHADOW', 'mjRND_REFLECTION', 'mjRND_SKYBOX', 'mjRND_FOG'):
            flags[getattr(mujoco.mjtRndFlag, flag)] = 0
        flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = int(cfg.skybox)
        self._mocap = {name: int(self.model.body(name).mocapid[0])
                       for name in ['ego'] + [v.agent_id for v in world.vehicles]
                       + [p.agent_id for p in world.pedestrians]}
        self._lamps = {(li.light_id, st): self.model.geom(f'{li.light_id}_{st}').id
                       for li in world.lights for st in LAMP_ORDER}
        self._buffer = np.zeros((h, w, 3), np.uint8)

    def _place(self, name: str, x: float, y: float, yaw: float) -> None:
        i = self._mocap[name]
        self.data.mocap_pos[i] = (x, y, 0.0)
        self.data.mocap_quat[i] = _quat(yaw)

    def sync(self, world: World) -> None:
        """Copy poses and lamp states of ``world`` into the MuJoCo scene."""
        self._place('ego', world.ego.x_m, world.ego.y_m, world.ego.yaw_rad)
        for v in world.vehicles:
            self._place(v.agent_id, *v.pose())
            if not v.active:
                self.data.mocap_pos[self._mocap[v.agent_id], 2] = -50.0
        for p in world.pedestrians:
            self._place(p.agent_id, *p.position(), p.heading_rad)
        for light in world.lights:
            state = light.state(world.time_s)
            for st in LAMP_ORDER:
                self.model.geom_rgba[self._lamps[(light.light_id, st)]] = \
                    LAMP_ON[st] if st == state else LAMP_OFF
        self._mj.mj_kinematics(self.model, self.data)
        self._mj.mj_camlight(self.model, self.data)

    def render(self, world: World) -> Dict[str, np.ndarray]:
        """Camera name -> (H, W, 3) uint8 RGB, in ``CAMERA_NAMES`` order."""
        self.sync(world)
        images = {}
        for name in CAMERA_NAMES:
            self.renderer.update_scene(self.data, camera=name)
            images[name] = self.renderer.render(out=self._buffer).copy()
        return images

    def close(self) -> None:
        if self.renderer is not None:
            self.renderer.close()
            self.renderer = None
