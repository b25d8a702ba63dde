"""Text from a config or a node never drives the terminal: the command
line's plain output shows ESC as ^[ and other control bytes as \\xNN, while
--json output keeps the text as it is (JSON escapes it)."""
import json

CONFIG = r'''
cluster_name: escapes
provider: {type: localhost}
head_node_type: head
available_node_types:
  head: {resources: {CPU: 1}, min_workers: 0, max_workers: 0}
  "w\e]0;pwned\a\e[2J": {resources: {CPU: 1}, min_workers: 1, max_workers: 1}
head_start_ray_commands: ["true"]
worker_setup_commands:
  - printf '\033]0;pwned\007\033[2J\r\n'; printf 'boom\033[2J\007\n' >&2; exit 3
worker_start_ray_commands: ["true"]
'''

WORKER_TYPE = "w\x1b]0;pwned\x07\x1b[2J"


def assert_no_control_bytes(text):
    for c in ("\x1b", "\x07", "\r"):
        assert c not in text, (c, text)


def test_validate_error_shows_control_bytes_of_a_key(rc):
    cfg = rc.config(CONFIG + '"max_\\e]0;pwned\\a_workers\\e[2J": 3\n', "bad.yaml")
    out = rc.run("validate", cfg, check=False)
    assert out.returncode == 2
    assert_no_control_bytes(out.stdout + out.stderr)
    assert "unknown key 'max_^[]0;pwned\\x07_workers^[[2J'" in out.stderr
    js = json.loads(rc.run("validate", cfg, "--json", check=False).stdout)
    assert "max_\x1b]0;pwned\x07_workers\x1b[2J" in {e["key"] for e in js["errors"]}


def test_up_and_status_show_node_type_and_node_output_safely(rc):
    cfg = rc.config(CONFIG)
    up = rc.run("up", cfg, "-y", check=False)
    assert up.returncode == 1
    assert_no_control_bytes(up.stdout + up.stderr)
    assert "boom^[[2J\\x07" in up.stderr
    assert "w^[]0;pwned\\x07^[[2J" in up.stderr
    status = rc.run("status", cfg)
    assert_no_control_bytes(status.stdout + status.stderr)
    assert "w^[]0;pwned\\x07^[[2J" in status.stdout
    # --json is unchanged: the raw text, escaped by JSON.
    nodes = json.loads(rc.run("status", cfg, "--json").stdout)["nodes"]
    assert WORKER_TYPE in {n["node_type"] for n in nodes}
    down = rc.run("down", cfg, "-y")
    assert_no_control_bytes(down.stdout + down.stderr)
