"""Where the package's shipped files are: the source tree, else the ament share directory."""
from pathlib import Path

PACKAGE = 'orion_lite_ros'
_SOURCE_ROOT = Path(__file__).resolve().parents[1]


def share_dir() -> Path:
    """The package's share directory (repo root in a source/editable install)."""
    if (_SOURCE_ROOT / 'package.xml').is_file() and (_SOURCE_ROOT / 'config').is_dir():
        return _SOURCE_ROOT
    try:
        from ament_index_python.packages import get_package_share_directory
    except ImportError as exc:
        raise FileNotFoundError(
            f'{PACKAGE}: not a source tree and ament_index_python is missing') from exc
    return Path(get_package_share_directory(PACKAGE))


def config_dir() -> Path:
    return share_dir() / 'config'


def config_file(*parts: str) -> Path:
    """A file under config/, with a clear error when it is missing."""
    path = config_dir().joinpath(*parts)
    if not path.is_file():
        raise FileNotFoundError(f'{PACKAGE}: config file {path} not found')
    return path


DEFAULT_CHECKPOINT = 'default'


def default_checkpoint() -> dict:
    """The shipped checkpoint (config/default_checkpoint.yaml): {'checkpoint': absolute path,
    'engine': EngineConfig overrides it needs}. `checkpoint: default` in the planner's
    parameters (and the demo) resolves through this."""
    import yaml
    data = yaml.safe_load(config_file('default_checkpoint.yaml').read_text()) or {}
    path = Path(data['checkpoint'])
    path = path if path.is_absolute() else share_dir() / path
    if not (path / 'model.safetensors').is_file():
        raise FileNotFoundError(f'{PACKAGE}: shipped checkpoint {path} not found '
                                '(config/default_checkpoint.yaml)')
    return {'checkpoint': str(path), 'engine': dict(data.get('engine') or {})}
