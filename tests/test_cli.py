import subprocess
import sys

from noisebudget.cli import main


def test_help_lists_commands(capsys):
    try:
        main(["--help"])
    except SystemExit as e:
        assert e.code == 0
    out = capsys.readouterr().out
    assert "noisebudget" in out


def test_unknown_command_exits_2(capsys):
    try:
        rc = main(["no-such-command"])
    except SystemExit as e:
        rc = e.code
    assert rc == 2
    assert "invalid choice" in capsys.readouterr().err


def test_no_command_exits_2():
    assert main([]) == 2


def test_module_entry_point():
    r = subprocess.run([sys.executable, "-m", "noisebudget", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and "noisebudget" in r.stdout
