"""
A PEP 517 / PEP 660 build backend for telegate-client, standard library only.

Why not setuptools: offline, `pip install ./clients/python` with build isolation
would have to download setuptools (and, before setuptools 70.1, `wheel`), and a
system setuptools without `wheel` cannot build wheels either. This backend needs
nothing on Python 3.11+ (the TOML reader is the standard library's tomllib; on
3.8-3.10 it is tomli, the same code, as pyproject.toml's build-system says): it
zips the pure-Python package `telegate_client/` into a `py3-none-any` wheel,
with metadata taken from pyproject.toml's [project] table.

Supported [project] keys: name, version, description, requires-python,
license ({text = ...} or a string), keywords, classifiers, urls. Anything else
there is rejected loudly rather than silently dropped.
"""
import base64
import hashlib
import io
import os
import re
import tarfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = 'telegate_client'
SUPPORTED = {'name', 'version', 'description', 'requires-python', 'license', 'keywords', 'classifiers', 'urls'}
# Reproducible archives: a fixed timestamp (zip cannot store dates before 1980).
EPOCH = (1980, 1, 1, 0, 0, 0)


# --- pyproject.toml --------------------------------------------------------------

def load_pyproject(path=None):
    """pyproject.toml as a dict: tomllib (3.11+), else tomli, which pyproject.toml's
    build-system requires on Python < 3.11 only."""
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib
    with open(path or os.path.join(ROOT, 'pyproject.toml'), 'rb') as f:
        return tomllib.load(f)


# --- metadata ----------------------------------------------------------------------

def _project():
    project = load_pyproject().get('project', {})
    unknown = set(project) - SUPPORTED
    if unknown:
        raise ValueError('telegate_build does not support [project] keys: {}'.format(', '.join(sorted(unknown))))
    for required in ('name', 'version'):
        if required not in project:
            raise ValueError('[project] needs {}'.format(required))
    return project


def _dist_name(project):
    return re.sub(r'[-_.]+', '_', project['name']).lower()


def _metadata(project):
    lines = [
        'Metadata-Version: 2.1',
        'Name: {}'.format(project['name']),
        'Version: {}'.format(project['version']),
    ]
    if 'description' in project:
        lines.append('Summary: {}'.format(project['description']))
    if 'requires-python' in project:
        lines.append('Requires-Python: {}'.format(project['requires-python']))
    lic = project.get('license')
    if isinstance(lic, dict) and 'text' in lic:
        lines.append('License: {}'.format(lic['text']))
    elif isinstance(lic, str):
        lines.append('License: {}'.format(lic))
    if project.get('keywords'):
        lines.append('Keywords: {}'.format(','.join(project['keywords'])))
    for c in project.get('classifiers', []):
        lines.append('Classifier: {}'.format(c))
    for label, url in project.get('urls', {}).items():
        lines.append('Project-URL: {}, {}'.format(label, url))
    return '\n'.join(lines) + '\n'


_WHEEL = 'Wheel-Version: 1.0\nGenerator: telegate_build\nRoot-Is-Purelib: true\nTag: py3-none-any\n'


def _package_files():
    """(archive path, absolute path) of every file of the package, sorted."""
    out = []
    base = os.path.join(ROOT, PACKAGE)
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if d != '__pycache__')
        for name in sorted(filenames):
            if name.endswith(('.pyc', '.pyo')):
                continue
            full = os.path.join(dirpath, name)
            out.append((os.path.relpath(full, ROOT).replace(os.sep, '/'), full))
    return out


def _record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode('ascii')
    return '{},sha256={},{}'.format(path, digest, len(data))


def _write_wheel(wheel_directory, entries):
    """entries: list of (archive path, bytes). Adds WHEEL/METADATA/RECORD."""
    project = _project()
    dist = _dist_name(project)
    info = '{}-{}.dist-info'.format(dist, project['version'])
    entries = list(entries) + [
        (info + '/METADATA', _metadata(project).encode('utf-8')),
        (info + '/WHEEL', _WHEEL.encode('utf-8')),
    ]
    record = [_record_line(p, d) for p, d in entries] + [info + '/RECORD,,']
    entries.append((info + '/RECORD', ('\n'.join(record) + '\n').encode('utf-8')))
    filename = '{}-{}-py3-none-any.whl'.format(dist, project['version'])
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), 'w', zipfile.ZIP_DEFLATED) as zf:
        for path, data in entries:
            zi = zipfile.ZipInfo(path, EPOCH)
            zi.external_attr = 0o644 << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(zi, data)
    return filename


def _read(full):
    with open(full, 'rb') as f:
        return f.read()


# --- PEP 517 hooks -----------------------------------------------------------------

def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    project = _project()
    info = '{}-{}.dist-info'.format(_dist_name(project), project['version'])
    os.makedirs(os.path.join(metadata_directory, info), exist_ok=True)
    with open(os.path.join(metadata_directory, info, 'METADATA'), 'w', encoding='utf-8') as f:
        f.write(_metadata(project))
    with open(os.path.join(metadata_directory, info, 'WHEEL'), 'w', encoding='utf-8') as f:
        f.write(_WHEEL)
    return info


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _write_wheel(wheel_directory, [(p, _read(full)) for p, full in _package_files()])


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    # PEP 660 via a .pth file: the source tree goes on sys.path.
    return _write_wheel(wheel_directory, [(PACKAGE + '.pth', (ROOT + '\n').encode('utf-8'))])


def build_sdist(sdist_directory, config_settings=None):
    project = _project()
    base = '{}-{}'.format(_dist_name(project), project['version'])
    files = [('pyproject.toml', os.path.join(ROOT, 'pyproject.toml')),
             ('_backend/telegate_build.py', os.path.abspath(__file__))] + _package_files()
    filename = base + '.tar.gz'
    mtime = time.mktime(EPOCH + (0, 0, -1))
    with tarfile.open(os.path.join(sdist_directory, filename), 'w:gz', format=tarfile.PAX_FORMAT) as tf:
        def add(path, data):
            ti = tarfile.TarInfo(base + '/' + path)
            ti.size = len(data)
            ti.mtime = int(mtime)
            ti.mode = 0o644
            tf.addfile(ti, io.BytesIO(data))
        add('PKG-INFO', _metadata(project).encode('utf-8'))
        for path, full in files:
            add(path, _read(full))
    return filename
