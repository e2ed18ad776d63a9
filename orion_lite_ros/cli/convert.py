"""orion-lite-convert: the authors' fused checkpoint -> our safetensors checkpoint.

    orion-lite-convert fused_ckpts/orion_lite.pth checkpoints/orion_lite

Reads the .pth with torch.load(weights_only=True) (no arbitrary unpickling), maps its keys
(orion_lite_ros/model/convert.py), loads them strictly into the paper-scale model and writes
OUT_DIR/model.safetensors + OUT_DIR/config.json.
"""
import argparse
from pathlib import Path
import sys

from orion_lite_ros.model.checkpoint import CheckpointError, read_pth, save_checkpoint
from orion_lite_ros.model.config import OrionLiteConfig


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='orion-lite-convert', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('input', help='official fused .pth')
    parser.add_argument('out_dir', help='output checkpoint directory')
    parser.add_argument('--preset', default='orion_lite', help='model preset (orion_lite)')
    args = parser.parse_args(argv)
    if not Path(args.input).is_file():
        print(f'orion-lite-convert: {args.input}: no such file', file=sys.stderr)
        return 2
    from orion_lite_ros.model.convert import convert_official_state, official_config
    from orion_lite_ros.model.orion_lite import OrionLite
    # The official VAE head emits x-right / y-forward waypoints; the config records that so
    # StudentPlanner turns them into REP-103.
    cfg = official_config(OrionLiteConfig.preset(args.preset))
    try:
        raw = read_pth(args.input)
        state = raw.get('state_dict', raw) if isinstance(raw, dict) else None
        if not isinstance(state, dict):
            raise CheckpointError(f'{args.input}: no state_dict inside')
        model = OrionLite(cfg)
        report = convert_official_state(state, model)
        print(report.summary())
        if not report.ok:
            print('conversion incomplete; nothing written', file=sys.stderr)
            return 1
        model.load_state_dict(report.state, strict=True)
    except (CheckpointError, OSError) as exc:
        print(f'orion-lite-convert: {exc}', file=sys.stderr)
        return 2
    print('wrote', save_checkpoint(args.out_dir, model, cfg))
    return 0


if __name__ == '__main__':
    sys.exit(main())
