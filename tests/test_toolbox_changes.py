"""What ``import vit_backbones`` changes in mmengine
(vit_backbones.toolbox_changes):
each change is made, named in the log as mmengine names its own, and can be
undone; the URL loader downloads once for a distributed run."""
import http.server
import logging
import os
import os.path as osp
import re
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import torch
from mmengine.config import Config
from mmengine.config import utils as config_utils
from mmengine.logging import MMLogger
from mmengine.runner import checkpoint as mmengine_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader

import vit_backbones  # noqa: F401
from vit_backbones import toolbox_changes
from vit_backbones.checkpoint import files as safe_load
from vit_backbones.checkpoint import receive


def _loaders():
    # The table is private to mmengine; reading it is for the test only.
    schemes = CheckpointLoader._schemes
    return schemes[''], schemes['http://'], schemes['https://']


def test_import_makes_mmengine_load_through_the_safe_loaders():
    assert _loaders() == (safe_load.load_from_local, safe_load.load_from_http,
                          safe_load.load_from_http)


def test_loaders_can_be_undone_and_applied_again():
    try:
        toolbox_changes.undo()
        assert _loaders() == (mmengine_checkpoint.load_from_local,
                              mmengine_checkpoint.load_from_http,
                              mmengine_checkpoint.load_from_http)
    finally:
        toolbox_changes.apply()
    test_import_makes_mmengine_load_through_the_safe_loaders()


def _checkpoint_to_model_holders():
    from mmengine.runner import checkpoint, runner
    return checkpoint, runner


def test_checkpoint_to_model_is_wrapped_where_mmengine_holds_it():
    """mmengine's ``_load_checkpoint_to_model`` is wrapped in both modules
    that hold it (the runner imports it by name); undo gives back
    mmengine's own function, apply wraps it once again. The wrapper relies
    on mmengine's signature: this fails loudly when mmengine changes it."""
    import inspect
    holders = _checkpoint_to_model_holders()
    wrapped = [module._load_checkpoint_to_model for module in holders]
    for function in wrapped:
        assert function.func is receive.load_checkpoint_to_model
    original = wrapped[0].args[0]
    assert wrapped[1].args[0] is original
    assert list(inspect.signature(original).parameters) == [
        'model', 'checkpoint', 'strict', 'logger', 'revise_keys']
    try:
        toolbox_changes.undo()
        for module in holders:
            assert module._load_checkpoint_to_model is original
        toolbox_changes.apply()
        toolbox_changes.apply()  # twice: still wrapped once
        for module in holders:
            assert module._load_checkpoint_to_model.args[0] is original
    finally:
        toolbox_changes.apply()


def test_unpublished_scheme_can_be_undone():
    from vit_backbones.model_zoo import UNPUBLISHED, load_from_unpublished
    assert CheckpointLoader._schemes[UNPUBLISHED] is load_from_unpublished
    try:
        toolbox_changes.undo()
        assert UNPUBLISHED not in CheckpointLoader._schemes
    finally:
        toolbox_changes.apply()
    assert CheckpointLoader._schemes[UNPUBLISHED] is load_from_unpublished


def test_every_change_is_in_the_table():
    """Each change the module makes is a row of its docstring table, with
    its undo, and apply/undo call them all."""
    import inspect
    doc = toolbox_changes.__doc__
    source = inspect.getsource(toolbox_changes.apply) + \
        inspect.getsource(toolbox_changes.undo)
    for change, undo in (
            ('use_safe_loaders', 'restore_mmengine_loaders'),
            ('receive_in_backbones', 'restore_checkpoint_to_model'),
            ('add_unpublished_scheme', 'remove_unpublished_scheme'),
            ('resolve_fork_configs', 'restore_config_packages')):
        assert re.search(rf':func:`{change}`, undone by\s+:func:`{undo}`',
                         doc), change
        assert change in source and undo in source


def test_config_packages_can_be_undone_and_applied_again():
    """On the forks the import points ``mmseg`` & co. at their modules; undo
    restores the distribution names, apply makes the same changes again (on
    the original stack both leave the table as it is)."""
    table = config_utils.MODULE2PACKAGE
    before = dict(table)
    changed = dict(toolbox_changes._changed_packages)
    try:
        toolbox_changes.undo()
        assert dict(table) == dict(before, **changed)
    finally:
        toolbox_changes.apply()
    assert dict(table) == before


def test_config_packages_resolve_for_forks(monkeypatch, tmp_path):
    """A fork keeps the module name (mmseg) under another distribution name
    (onedl-mmsegmentation); `mmseg::` bases must still resolve."""
    monkeypatch.setitem(config_utils.MODULE2PACKAGE, 'mmseg',
                        'no-such-distribution')
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text("_base_ = ['mmseg::_base_/models/fpn_r50.py']\n")
    with pytest.raises(ModuleNotFoundError):
        Config.fromfile(str(cfg_file))
    assert toolbox_changes.resolve_fork_configs() == {
        'mmseg': 'no-such-distribution'}
    assert Config.fromfile(str(cfg_file)).model.type == 'EncoderDecoder'
    # Installed distributions and missing modules are left alone.
    assert toolbox_changes.resolve_fork_configs() == {}
    assert config_utils.MODULE2PACKAGE['mmagic'] == 'mmagic'


def test_the_log_names_the_backend(tmp_path):
    """mmengine logs ``Loads checkpoint by {loader name[10:]} backend``."""
    path = str(tmp_path / 'weights.pth')
    torch.save({'w': torch.ones(1)}, path)
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        CheckpointLoader.load_checkpoint(path, logger='current')
    finally:
        logger.removeHandler(handler)
    messages = [r.getMessage() for r in records]
    assert any('Loads checkpoint by local backend' in m for m in messages), \
        messages
    assert safe_load.load_from_http.__name__[10:] == 'http'


class _CountingHandler(http.server.SimpleHTTPRequestHandler):
    requests = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        type(self).requests.append(self.path)
        # A slow answer: a process that did not wait for the first one's
        # download would request the file too (the test would see it).
        time.sleep(2)
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def http_root(tmp_path):
    """A loopback HTTP server over ``tmp_path / 'www'``; yields the root
    URL and the list of requested paths."""
    root = tmp_path / 'www'
    root.mkdir()

    class Handler(_CountingHandler):
        requests = []

        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f'http://127.0.0.1:{server.server_address[1]}', \
            Handler.requests
    finally:
        server.shutdown()
        server.server_close()


RANK_SCRIPT = textwrap.dedent('''
    import os, sys
    import torch
    import torch.distributed as dist
    rank = int(sys.argv[1])
    dist.init_process_group('gloo', init_method='file://' + sys.argv[2],
                            rank=rank, world_size=2)
    import vit_backbones  # noqa
    from mmengine.runner.checkpoint import CheckpointLoader
    state = CheckpointLoader.load_checkpoint(sys.argv[3])
    assert torch.equal(state['w'], torch.arange(4.)), state
    dist.barrier()
    dist.destroy_process_group()
    print('rank', rank, 'loaded')
''')


def test_url_loads_download_once_for_two_processes(http_root, tmp_path):
    """Two gloo processes load the same URL: the first downloads into the
    hub cache while the other waits, then both load it."""
    root, url, requests = http_root
    torch.save({'w': torch.arange(4.)}, str(root / 'weights.pth'))
    script = tmp_path / 'rank.py'
    script.write_text(RANK_SCRIPT)
    env = dict(os.environ, TORCH_HOME=str(tmp_path / 'torch'),
               OMP_NUM_THREADS='1')
    env.pop('LOCAL_RANK', None)
    store = str(tmp_path / 'store')
    procs = [
        subprocess.Popen([sys.executable, str(script), str(rank), store,
                          url + '/weights.pth'], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True) for rank in (0, 1)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    for rank, (proc, out) in enumerate(zip(procs, outputs)):
        assert proc.returncode == 0, out
        assert f'rank {rank} loaded' in out
    assert requests == ['/weights.pth']
    assert osp.isfile(tmp_path / 'torch/hub/checkpoints/weights.pth')
