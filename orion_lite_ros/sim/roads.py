"""Road network: lanes (centre polylines with widths), markings, junction areas.

Right-hand traffic. A road has a reference polyline; its forward lanes lie to the right of the
reference (travelling along it), its backward lanes to the left (travelling against it).
"""
from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

import numpy as np

from orion_lite_ros.layout import Command
from orion_lite_ros.sim import geometry as geo

SOLID_WHITE, DASHED_WHITE, SOLID_YELLOW = 'solid_white', 'dashed_white', 'solid_yellow'
KERB_WIDTH_M = 0.3


@dataclass(frozen=True, eq=False)
class Lane:
    lane_id: str
    centre_xy: np.ndarray          # (N, 2) map frame, direction of travel
    width_m: float
    speed_limit_mps: float
    turn: int = int(Command.LANE_FOLLOW)   # LEFT/RIGHT/STRAIGHT for junction connectors

    @property
    def in_junction(self) -> bool:
        return self.turn != int(Command.LANE_FOLLOW)

    def boundaries(self) -> Tuple[np.ndarray, np.ndarray]:
        """(left (N, 2), right (N, 2)) lane borders."""
        half = 0.5 * self.width_m
        return geo.offset(self.centre_xy, half), geo.offset(self.centre_xy, -half)


@dataclass
class RoadMap:
    """Lanes, drawable surfaces and markings of one generated map."""

    lanes: Dict[str, Lane] = field(default_factory=dict)
    surfaces: List[Tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # (left, right)
    kerbs: List[Tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    markings: List[Tuple[np.ndarray, str]] = field(default_factory=list)    # (polyline, style)
    junctions: List[np.ndarray] = field(default_factory=list)              # polygons (K, 2)

    def add_lane(self, lane: Lane) -> Lane:
        self.lanes[lane.lane_id] = lane
        return lane

    def lane_boundaries(self) -> List[Tuple[np.ndarray, np.ndarray]]:
        """Ground truth: (left, right) borders of every non-junction lane."""
        return [lane.boundaries() for lane in self.lanes.values() if not lane.in_junction]

    def in_junction(self, xy) -> bool:
        return any(geo.point_in_polygon(xy, poly) for poly in self.junctions)

    def on_road(self, xy) -> bool:
        """True when ``xy`` lies on a lane or inside a junction."""
        if self.in_junction(xy):
            return True
        point = np.asarray(xy, float)[None, :2]
        for lane in self.lanes.values():
            if geo.distance_to_polyline(point, lane.centre_xy)[0] <= 0.5 * lane.width_m + 0.1:
                return True
        return False

    def bounds(self) -> Tuple[np.ndarray, np.ndarray]:
        pts = np.concatenate([lane.centre_xy for lane in self.lanes.values()], axis=0)
        return pts.min(axis=0), pts.max(axis=0)


def build_polyline(start_xy, heading_rad: float, segments: Sequence[Tuple[str, float, float]],
                   step_m: float = 1.0) -> np.ndarray:
    """Integrate ('straight', length_m, 0) and ('arc', radius_m, angle_rad) pieces.

    A positive arc angle turns left.
    """
    pts = [np.asarray(start_xy, float)]
    h = heading_rad
    for kind, a, b in segments:
        if kind == 'straight':
            n = max(1, int(np.ceil(a / step_m)))
            for _ in range(n):
                pts.append(pts[-1] + (a / n) * np.array([np.cos(h), np.sin(h)]))
        else:
            radius, angle = a, b
            n = max(2, int(np.ceil(abs(angle) * radius / step_m)))
            dh = angle / n
            for _ in range(n):
                chord = 2.0 * radius * np.sin(abs(dh) / 2.0)
                pts.append(pts[-1] + chord * np.array([np.cos(h + dh / 2), np.sin(h + dh / 2)]))
                h += dh
    return np.array(pts)


def add_road(road_map: RoadMap, name: str, ref_xy: np.ndarray, n_fwd: int, n_bwd: int,
             width_m: float, speed_mps: float) -> List[Lane]:
    """Lanes ``name:f<i>`` (along ref) and ``name:b<i>`` (against), markings and surfaces."""
    lanes = []
    for i in range(n_fwd):
        centre = geo.offset(ref_xy, -(i + 0.5) * width_m)
        lanes.append(road_map.add_lane(Lane(f'{name}:f{i}', centre, width_m, speed_mps)))
    for i in range(n_bwd):
        centre = geo.offset(ref_xy, (i + 0.5) * width_m)[::-1].copy()
        lanes.append(road_map.add_lane(Lane(f'{name}:b{i}', centre, width_m, speed_mps)))
    left, right = geo.offset(ref_xy, n_bwd * width_m), geo.offset(ref_xy, -n_fwd * width_m)
    road_map.surfaces.append((left, right))
    road_map.kerbs.append((geo.offset(ref_xy, n_bwd * width_m + KERB_WIDTH_M), left))
    road_map.kerbs.append((right, geo.offset(ref_xy, -n_fwd * width_m - KERB_WIDTH_M)))
    road_map.markings += [(left, SOLID_WHITE), (right, SOLID_WHITE)]
    if n_fwd and n_bwd:
        road_map.markings.append((ref_xy.copy(), SOLID_YELLOW))
    for i in range(1, n_fwd):
        road_map.markings.append((geo.offset(ref_xy, -i * width_m), DASHED_WHITE))
    for i in range(1, n_bwd):
        road_map.markings.append((geo.offset(ref_xy, i * width_m), DASHED_WHITE))
    return lanes


def turn_of(heading_in_rad: float, heading_out_rad: float) -> int:
    delta = float(geo.wrap_angle(heading_out_rad - heading_in_rad))
    if abs(delta) < np.radians(35):
        return int(Command.STRAIGHT)
    return int(Command.LEFT if delta > 0 else Command.RIGHT)


def add_junction(road_map: RoadMap, centre_xy, heading_rad: float, arm_refs: Dict[int, np.ndarray],
                 half_size_m: float, width_m: float, speed_mps: float) -> None:
    """Junction square + connectors between the one-lane-each-way arms ``arm_refs``.

    ``arm_refs[k]`` is the reference polyline of arm k (direction heading + k*90 deg), starting
    at the junction edge and leading away; the arm roads must already be added as ``arm<k>``.
    """
    c = np.asarray(centre_xy, float)
    corners = [c + half_size_m * np.sqrt(2) * np.array([np.cos(a), np.sin(a)])
               for a in heading_rad + np.radians([45, 135, 225, 315])]
    road_map.junctions.append(np.array(corners))
    road_map.surfaces.append((np.array([corners[1], corners[2]]), np.array([corners[0],
                                                                            corners[3]])))
    for a in arm_refs:
        lane_in = road_map.lanes[f'arm{a}:b0']
        for b in arm_refs:
            if a == b:
                continue
            lane_out = road_map.lanes[f'arm{b}:f0']
            p0, p1 = lane_in.centre_xy[-1], lane_out.centre_xy[0]
            h0 = geo.headings(lane_in.centre_xy)[-1]
            h1 = geo.headings(lane_out.centre_xy)[0]
            path = geo.resample(geo.smooth_path(p0, h0, p1, h1, n=40), 1.0)
            road_map.add_lane(Lane(f'J{a}>{b}', path, width_m, speed_mps, turn_of(h0, h1)))
