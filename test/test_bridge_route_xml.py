"""Leaderboard / Bench2Drive route XML -> RouteSpec (REP-103)."""
from pathlib import Path

import numpy as np
import pytest

from orion_lite_ros.bridge import route_xml
from orion_lite_ros.layout import Command

FIXTURE = Path(__file__).parent / 'fixtures' / 'routes_b2d_mini.xml'


def test_parse_fixture_converts_to_rep103():
    routes = route_xml.parse_routes(FIXTURE)
    assert [r.route_id for r in routes] == ['1711', '2204']
    r = routes[0]
    assert r.town == 'Town12'
    # CARLA y right -> REP-103 y left: y negated, x and z kept
    np.testing.assert_allclose(r.keypoints_xyz, [[100, -20, 0.5], [130, -20, 0.5],
                                                 [130, -60, 0.5]])
    sc = r.scenarios[0]
    assert (sc.name, sc.type) == ('Accident_1', 'Accident')
    np.testing.assert_allclose(sc.trigger_xyz, [110.0, -20.0, 0.5])
    assert sc.trigger_yaw_rad == pytest.approx(-np.pi / 2)     # CARLA yaw 90 (cw) -> -pi/2
    assert sc.attributes['distance'] == {'value': '120'}
    assert len(r.weathers) == 2 and r.weathers[1]['route_percentage'] == '100'


def test_route_spec_abilities_and_densification():
    specs = route_xml.load_route_specs(FIXTURE, step_m=1.0)
    a, b = specs
    assert a.scenario == 'Accident' and a.abilities == ('Overtaking',)
    assert set(b.abilities) == {'Emergency_Brake', 'Give_Way', 'Traffic_Signs'}
    assert a.waypoints_xy.shape == (71, 2)                     # 30 m + 40 m at 1 m
    np.testing.assert_allclose(a.waypoints_xy[-1], [130.0, -60.0])
    steps = np.linalg.norm(np.diff(a.waypoints_xy, axis=0), axis=1)
    assert steps.max() <= 1.0 + 1e-9
    assert set(a.commands) == {int(Command.LANE_FOLLOW)}
    assert a.timeout_s == pytest.approx(100.0)                 # minimum timeout
    assert a.town == 'Town12' and 'keypoints_xyz' in a.extra


def test_route_ids_filter_and_errors(tmp_path):
    assert [r.route_id for r in route_xml.parse_routes(FIXTURE, ['2204'])] == ['2204']
    with pytest.raises(route_xml.RouteXmlError, match='no route with id'):
        route_xml.parse_routes(FIXTURE, ['9'])
    with pytest.raises(route_xml.RouteXmlError, match='expected <routes>'):
        route_xml.parse_routes('<foo/>')
    with pytest.raises(route_xml.RouteXmlError, match='at least two'):
        route_xml.parse_routes('<routes><route id="1" town="T"><waypoints>'
                               '<position x="0" y="0" z="0"/></waypoints></route></routes>')
    with pytest.raises(route_xml.RouteXmlError, match='numeric'):
        route_xml.parse_routes('<routes><route id="1"><waypoints><position x="a" y="0" z="0"/>'
                               '<position x="1" y="0" z="0"/></waypoints></route></routes>')
    with pytest.raises(route_xml.RouteXmlError):
        route_xml.parse_routes(tmp_path / 'missing.xml')
