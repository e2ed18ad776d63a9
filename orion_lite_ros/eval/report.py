"""Replay results as JSON and a short text summary, and regression against a stored run."""
from dataclasses import asdict, dataclass, field
import json
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from orion_lite_ros.layout import Command

REPORT_VERSION = 1


def result_to_json(result, extra: Optional[Dict] = None) -> Dict:
    """Everything needed to read, plot or regress the run later (no images)."""
    out = {
        'version': REPORT_VERSION, 'bag': result.bag, 'storage': result.storage,
        'typestore': result.typestore, 'topic_map': result.topic_map.to_dict(),
        'topics_used': None if result.topics is None else asdict(result.topics),
        'wall_s': round(result.wall_s, 3),
        'frames_per_s': round(len(result.frames) / result.wall_s, 3) if result.wall_s else None,
        'summary': result.summary,
        'problems': [p.to_json() for p in result.problems],
        'frames': [f.to_json() for f in result.frames],
    }
    out.update(extra or {})
    return out


def _fmt(value, unit: str = '', nd: int = 3) -> str:
    return 'n/a' if value is None else f'{value:.{nd}f}{unit}'


def _baseline_line(s: Dict) -> str:
    cv = s.get('constant_velocity')
    if not cv:
        return 'constant-velocity baseline: n/a'
    model, base = s['l2_b2d_avg_2s_m'], cv['l2_b2d_avg_2s_m']
    verdict = '' if model is None or base is None else (
        '  -> the planner BEATS it' if model < base else '  -> the planner does NOT beat it')
    return ('constant-velocity baseline L2 at 1/2/3 s (m): ' + ' / '.join(
        _fmt(cv[f'l2_{h}s_m']) for h in (1, 2, 3)) + f', B2D avg 2 s {_fmt(base)}{verdict}')


def summary_text(report: Dict) -> str:
    """A few lines for a terminal or a CI log."""
    s = report['summary']
    lines = [f"bag: {report['bag']} ({report['storage']}, {report['typestore']} types, "
             f"topic map {report['topic_map']['name']})",
             f"frames planned: {s['frames']} in {report['wall_s']:.1f} s "
             f"({_fmt(report['frames_per_s'], ' frames/s', 2)})",
             'L2 at 1/2/3 s (m): ' + ' / '.join(_fmt(s[f'l2_{h}s_m']) for h in (1, 2, 3)) +
             f"  (frames {s['frames_covering_1s']}/{s['frames_covering_2s']}/"
             f"{s['frames_covering_3s']})",
             f"L2 Bench2Drive avg 2 s @ 2 Hz (m): {_fmt(s['l2_b2d_avg_2s_m'])}",
             _baseline_line(s),
             'heading error at 1/2/3 s (deg): ' + ' / '.join(
                 _fmt(s[f'heading_err_{h}s_deg'], nd=2) for h in (1, 2, 3))]
    col = s.get('collision')
    lines.append('collision rate at 1/2/3 s: ' + (' / '.join(
        _fmt(col[f'rate_{h}s']) for h in (1, 2, 3)) if col else 'n/a (no object boxes)'))
    lat = s.get('latency_s')
    if lat:
        lines.append(f"planner latency (ms): mean {lat['mean'] * 1e3:.1f}, p50 "
                     f"{lat['p50'] * 1e3:.1f}, p95 {lat['p95'] * 1e3:.1f}, "
                     f"max {lat['max'] * 1e3:.1f}")
    commands = [f['command'] for f in report['frames']]
    if commands:
        counts = {Command(c).name: commands.count(c) for c in sorted(set(commands))}
        lines.append(f'commands: {counts}')
    for p in report['problems']:
        where = f" {p['topic']}" if p['topic'] else ''
        lines.append(f"SKIPPED/NOTE [{p['kind']}]{where}: {p['detail']}")
    return '\n'.join(lines)


def write_report(report: Dict, out_dir) -> Dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {'json': out / 'replay.json', 'summary': out / 'summary.txt'}
    paths['json'].write_text(json.dumps(report, indent=1, allow_nan=False))
    paths['summary'].write_text(summary_text(report) + '\n')
    return paths


@dataclass
class RegressionReport:
    tolerance_m: float
    compared: int = 0
    max_diff_m: float = 0.0
    differing: List[Dict] = field(default_factory=list)    # stamp_ns, max_diff_m, command
    missing: List[int] = field(default_factory=list)       # in the reference, not planned now
    extra: List[int] = field(default_factory=list)         # planned now, not in the reference

    @property
    def passed(self) -> bool:
        return not (self.differing or self.missing or self.extra) and self.compared > 0

    def to_json(self) -> Dict:
        d = asdict(self)
        d['passed'] = self.passed
        return d

    def text(self, limit: int = 20) -> str:
        head = (f"regression {'PASSED' if self.passed else 'FAILED'}: {self.compared} frames "
                f'compared, tolerance {self.tolerance_m} m, max difference '
                f'{self.max_diff_m:.4g} m, {len(self.differing)} differ, '
                f'{len(self.missing)} missing, {len(self.extra)} extra')
        rows = [f"  frame {d['stamp_ns']}: {d['max_diff_m']:.4g} m"
                + (f" (command {d['command_ref']} -> {d['command']})"
                   if d['command'] != d['command_ref'] else '')
                for d in self.differing[:limit]]
        more = [f'  ... {len(self.differing) - limit} more'] if len(self.differing) > limit \
            else []
        rows += [f'  missing frame {t}' for t in self.missing[:limit]]
        rows += [f'  extra frame {t}' for t in self.extra[:limit]]
        return '\n'.join([head] + rows + more)


def compare_runs(current: Dict, reference: Dict, tolerance_m: float) -> RegressionReport:
    """Per-frame planned waypoints of two runs (report dicts), matched by sensor stamp."""
    cur = {f['stamp_ns']: f for f in current['frames']}
    ref = {f['stamp_ns']: f for f in reference['frames']}
    rep = RegressionReport(tolerance_m=float(tolerance_m))
    rep.missing = sorted(set(ref) - set(cur))
    rep.extra = sorted(set(cur) - set(ref))
    for stamp in sorted(set(cur) & set(ref)):
        a = np.array(cur[stamp]['waypoints'], dtype=np.float64)
        b = np.array(ref[stamp]['waypoints'], dtype=np.float64)
        diff = float(np.max(np.linalg.norm(a - b, axis=-1))) if a.shape == b.shape else np.inf
        rep.compared += 1
        rep.max_diff_m = max(rep.max_diff_m, diff)
        same_cmd = cur[stamp]['command'] == ref[stamp]['command']
        if not (diff <= tolerance_m) or not same_cmd:
            rep.differing.append({'stamp_ns': stamp, 'max_diff_m': diff,
                                  'command': cur[stamp]['command'],
                                  'command_ref': ref[stamp]['command']})
    return rep


def load_report(path) -> Dict:
    with open(path, encoding='utf-8') as f:
        return json.load(f)
