"""The package installs offline with pip through the in-tree build backend (standard library only on 3.11+)."""
import os
import subprocess
import sys
import tempfile
import unittest
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(PROJECT, '_backend'))
import telegate_build  # noqa: E402


class Backend(unittest.TestCase):
    def test_nothing_to_fetch_on_311(self):
        # Offline installs rest on this: the only build requirement is void on 3.11+.
        project = telegate_build.load_pyproject()
        self.assertEqual(project['build-system']['requires'], ["tomli>=1.1.0; python_version < '3.11'"])
        self.assertEqual(project['project']['requires-python'], '>=3.8')

    def test_wheel_contents(self):
        with tempfile.TemporaryDirectory() as out:
            name = telegate_build.build_wheel(out)
            self.assertEqual(name, 'telegate_client-0.1.0-py3-none-any.whl')
            with zipfile.ZipFile(os.path.join(out, name)) as zf:
                names = set(zf.namelist())
                metadata = zf.read('telegate_client-0.1.0.dist-info/METADATA').decode()
                record = zf.read('telegate_client-0.1.0.dist-info/RECORD').decode()
        for path in ('telegate_client/__init__.py', 'telegate_client/client.py', 'telegate_client/py.typed'):
            self.assertIn(path, names)
            self.assertIn(path + ',sha256=', record)
        self.assertFalse([n for n in names if n.endswith('.pyc')])
        self.assertIn('Name: telegate-client', metadata)
        self.assertIn('Requires-Python: >=3.8', metadata)


class PipInstall(unittest.TestCase):
    def test_pip_install_offline(self):
        with tempfile.TemporaryDirectory() as target:
            # --no-index: no network at all; build isolation stays on (nothing to fetch on 3.11+: the requirement's marker is false).
            r = subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-index', '--quiet',
                                '--disable-pip-version-check', '--target', target, PROJECT],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
            self.assertEqual(r.returncode, 0, r.stdout)
            self.assertTrue(os.path.isfile(os.path.join(target, 'telegate_client', 'client.py')))
            probe = subprocess.run(
                [sys.executable, '-c', 'import telegate_client as t; print(t.__file__); print(t.__version__)'],
                cwd=target, env=dict(os.environ, PYTHONPATH=target), stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, universal_newlines=True)
            self.assertEqual(probe.returncode, 0, probe.stdout)
            file, version = probe.stdout.split()
            self.assertTrue(file.startswith(target), file)
            self.assertEqual(version, '0.1.0')


if __name__ == '__main__':
    unittest.main()
