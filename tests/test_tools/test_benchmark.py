"""The benchmark tools: measurement helpers and the comparison tool's parts
that run without the official code (the zoo mode, the official-setting
rules, the timm stand-ins). Figures are never asserted, only their sanity.
"""
import sys

import pytest
import torch
from helpers import load_tool

from vit_backbones.tools.benchmark import (matmul_rate, measure, peak_memory,
                                           profile_step)


def _tool():
    return load_tool('tools/analysis_tools/benchmark_official.py')


def test_measure_profile_and_rate():
    linear = torch.nn.Linear(64, 64)
    x = torch.randn(32, 64)
    result = measure(lambda: linear(x), warmup=0, iters=2, memory=False)
    assert 0 < result['min_s'] <= result['median_s']
    assert 'peak_mib' not in result
    assert peak_memory(lambda: torch.ones(256, 1024).sum()) >= 0
    assert matmul_rate(size=64, iters=2) > 0
    profile = profile_step(lambda: torch.relu(linear(x)).sum())
    assert 0 < profile['arithmetic'] < 1  # addmm, then relu and sum
    assert all(not op.endswith(('mm', 'addmm')) for op, _ in profile['top'])
    assert {op for op, _ in profile['top']} & {'aten::relu', 'aten::sum'}


class _FakeCuda:
    """Records the torch.cuda calls of the GPU branches; memory grows by
    3 MiB over a 1 MiB base during a step."""

    def __init__(self):
        self.calls = []
        self.allocated = 2**20

    def synchronize(self, device=None):
        self.calls.append('sync')

    def empty_cache(self):
        self.calls.append('empty_cache')

    def reset_peak_memory_stats(self, device=None):
        self.calls.append('reset')

    def memory_allocated(self, device=None):
        return self.allocated

    def max_memory_allocated(self, device=None):
        return self.allocated + 3 * 2**20


def test_gpu_branches_synchronize_and_read_the_caching_allocator(
        monkeypatch):
    """On CUDA every timed call ends with a synchronize (kernels run
    asynchronously) and the peak is the caching allocator's, above what
    was allocated before the step."""
    from vit_backbones.tools import benchmark
    fake = _FakeCuda()
    monkeypatch.setattr(benchmark.torch, 'cuda', fake)
    cuda = torch.device('cuda')
    steps = []
    result = measure(lambda: steps.append(fake.calls.count('sync')), cuda,
                     warmup=1, iters=3, memory=True)
    # each timed step starts after the previous one was synchronized
    assert steps == [0, 1, 2, 3, 5]
    assert result['peak_mib'] == 3
    assert fake.calls[-4:] == ['sync', 'empty_cache', 'reset', 'sync']


def test_gpu_profile_reads_device_time(monkeypatch):
    """On CUDA the profile asks for CUDA activity and splits kernel
    (device) time, not the CPU time that launched it."""
    import torch.profiler as profiler

    from vit_backbones.tools import benchmark

    class Event:
        def __init__(self, key, device_us):
            self.key = key
            self.self_device_time_total = device_us
            self.self_cpu_time_total = 1.

    seen = {}

    class FakeProfile:
        def __init__(self, activities):
            seen['activities'] = activities

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def key_averages(self):
            return [Event('aten::mm', 75.), Event('aten::add', 20.),
                    Event('cudaLaunchKernel', 0.), Event('aten::relu', 5.)]

    monkeypatch.setattr(profiler, 'profile', FakeProfile)
    monkeypatch.setattr(benchmark.torch, 'cuda', _FakeCuda())
    result = profile_step(lambda: None, torch.device('cuda'))
    assert profiler.ProfilerActivity.CUDA in seen['activities']
    assert result['arithmetic'] == pytest.approx(0.75)
    assert result['top'] == [('aten::add', pytest.approx(0.2)),
                             ('aten::relu', pytest.approx(0.05))]


def test_hat_net_settings_the_official_code_can_run():
    pair = _tool().HATNetPair()
    assert pair.setting('tiny', 224, 224) == ((8, 7, 7, 1), (8, 4, 2, 1))
    assert pair.setting('tiny', 512, 512) == ((8, 8, 8, 1), (16, 8, 4, 1))
    # 800x1216: stage maps 200x304, 100x152, 50x76, 25x38
    assert pair.setting('tiny', 800, 1216) == ((8, 4, 2, 1), (8, 4, 2, 1))


def test_timm_stand_ins_import_an_official_style_file(tmp_path, monkeypatch):
    for name in list(sys.modules):
        if name == 'timm' or name.startswith('timm.'):
            monkeypatch.delitem(sys.modules, name)
    (tmp_path / 'official_net.py').write_text(
        'import torch.nn as nn\n'
        'from timm.models.layers import DropPath, trunc_normal_, to_2tuple\n'
        'from timm.models.registry import register_model\n'
        'from timm.models.helpers import build_model_with_cfg\n'
        'class Net(nn.Module):\n'
        '    def __init__(self, size=4, **kw):\n'
        '        super().__init__()\n'
        '        self.fc = nn.Linear(*to_2tuple(size))\n'
        '        trunc_normal_(self.fc.weight, std=.02)\n'
        '        self.drop_path = DropPath(0.1)\n'
        '@register_model\n'
        'def net(**kw):\n'
        '    return build_model_with_cfg(Net, "net", False, **kw)\n')
    tool = _tool()
    tool.stand_ins.install_timm()
    module = tool.import_file('official_net',
                              str(tmp_path / 'official_net.py'))
    monkeypatch.delitem(sys.modules, 'official_net')
    assert module.net(size=3).fc.weight.shape == (3, 3)


def test_zoo_mode_runs_each_side_in_its_own_process(capsys):
    tool = _tool()
    tool.main(['zoo', '--arch', 'PVTv2-b1 (mmdet)', '--sizes', '64',
               '--batch', '1', '--warmup', '0', '--iters', '1',
               '--skip-flops'])
    out = capsys.readouterr().out
    assert 'PVTv2-b1 (mmdet) 64x64 batch 1' in out
    assert 'peak' in out and 'MiB forward+backward' in out
    assert '| PVTv2-b1 (mmdet) 64x64 batch 1 | 13.50 | - |' in out


def test_official_networks_need_a_checkout():
    tool = _tool()
    with pytest.raises(SystemExit):
        tool.parse_args(['hat_net'])
    with pytest.raises(SystemExit):
        tool.parse_args(['zoo', '--repeat', '0'])
    args = tool.parse_args(['vil', '--official-repo', '/x'])
    assert args.compile_options == {}
    assert args.arch == ['tiny', 'small']
    assert args.sizes == ['224', '800x1216']


@pytest.mark.parametrize('words', [
    ['--compile-options', 'force_layout_optimization=True'],  # no --compile
    ['--compile', '--compile-options', 'no_such_setting=1'],
    ['--compile', '--compile-options', 'force_layout_optimization'],
    ['--compile', '--compile-options', 'force_layout_optimization=yes'],
])
def test_compile_options_are_checked_before_anything_runs(words, capsys):
    tool = _tool()
    with pytest.raises(SystemExit):
        tool.parse_args(['zoo'] + words)
    assert '--compile-options' in capsys.readouterr().err
    args = tool.parse_args(['zoo', '--compile', '--compile-options',
                            'force_layout_optimization=True',
                            'cpp.threads=2'])
    assert args.compile_options == {
        'force_layout_optimization': True, 'cpp.threads': 2}


def test_profile_bounds_for_eager_and_compiled(monkeypatch, capsys):
    """With --profile and --compile, the best ratio possible is printed for
    the compiled code too: official eager time over the time compiled ours
    spends in matmul/conv/attention."""
    tool = _tool()

    def timing(ms):
        return dict(median_s=ms / 1e3, min_s=ms / 1e3)

    def profile(share):
        return dict(arithmetic=share, top=[('aten::gelu', 0.1)])

    def fake_spawn(job, kind):
        if kind == 'memory':
            return dict(train_peak_mib=100., eval_peak_mib=50.)
        result = dict(note='', params=10, outputs=[torch.zeros(2)],
                      forward=timing(100.), train=timing(300.),
                      forward_profile=profile(0.5),
                      train_profile=profile(0.6))
        if job['side'] == 'ours':
            result.update(
                forward=timing(80.), train=timing(250.),
                compiled_forward=timing(50.), compiled_train=timing(200.),
                compiled_forward_profile=profile(0.5),
                compiled_train_profile=profile(0.6),
                compile_forward_s=1., compile_train_s=2.)
        return result

    monkeypatch.setattr(tool, 'spawn', fake_spawn)
    args = tool.parse_args(['hvt', '--official-repo', '/x', '--compile',
                            '--profile', '--skip-flops'])
    row = tool.run_pair(args, 'ti-1', (224, 224), rate=1e11)
    out = capsys.readouterr().out
    assert row['compiled_fwd_ratio'] == pytest.approx(2.)
    assert 'ours compiled forward: 50% of the time' in out
    # eager: 100 / (0.5 * 80), 300 / (0.6 * 250); compiled: 100 / (0.5 * 50),
    # 300 / (0.6 * 200)
    assert 'of ours took no time, forward: 2.50x' in out
    assert 'of ours took no time, forward+backward: 2.00x' in out
    assert 'of ours compiled took no time, forward: 4.00x' in out
    assert 'of ours compiled took no time, forward+backward: 2.50x' in out


def test_count_flops_without_norms():
    import torch.nn as nn

    from vit_backbones.tools.complexity import count_flops

    class Net(nn.Module):

        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)
            self.ln = nn.LayerNorm(8)
            self.bn = nn.BatchNorm2d(4)

        def forward(self, x):
            return self.ln(self.fc(x)), self.bn(x.reshape(1, 4, 4, 4))

    net = Net().eval()
    x = torch.randn(2, 4, 8)
    assert count_flops(net, x, norms=False) == 2 * 4 * 8 * 8
    assert count_flops(net, x) > 2 * 4 * 8 * 8


def test_time_modules_times_each_module_in_both_modes(capsys):
    from vit_backbones.tools.benchmark import time_modules

    class Recorder(torch.nn.Module):
        """A linear layer that records the mode and grad state of calls."""

        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(4, 3)
            self.calls = []

        def forward(self, x):
            self.calls.append((self.training, torch.is_grad_enabled()))
            return self.linear(x)

    a, b = Recorder(), Recorder()
    results = time_modules([('a', a), ('b', b)], torch.randn(2, 4),
                           warmup=1, iters=2, prefix='  ')
    assert list(results) == ['a', 'b']
    for fwd, fwd_bwd in results.values():
        for r in (fwd, fwd_bwd):
            assert 0 < r['min_s'] <= r['median_s']
    for m in (a, b):
        # warm-up + timed + memory call: 4 no-grad eval calls, then 4
        # training calls with grad (and the grads are cleared after each)
        assert m.calls == [(False, False)] * 4 + [(True, True)] * 4
        assert m.linear.weight.grad is None
    rows = capsys.readouterr().out.splitlines()
    assert [r.split('  ')[1].strip() for r in rows] == [
        'a forward', 'a forward+backward', 'b forward', 'b forward+backward'
    ]
    assert all(r.startswith('  ') and 'img/s' in r for r in rows)


def test_both_allocators_give_their_own_ratios(monkeypatch, capsys):
    """Each cell is timed under glibc's defaults and under glibc keeping
    freed memory, each in its workers' environment, and the table gives
    both ratios; memory is measured once."""
    tool = _tool()
    envs = []

    def fake_spawn(job, kind):
        if kind == 'memory':
            return dict(train_peak_mib=100., eval_peak_mib=50.)
        envs.append((job['allocator'], tool.allocator_env(job['allocator'])))
        slow = 2. if job['allocator'] == 'default' and \
            job['side'] == 'official' else 1.
        ms = (100. if job['side'] == 'official' else 80.) * slow
        return dict(note='', params=10, outputs=[torch.zeros(2)],
                    forward=dict(median_s=ms / 1e3, min_s=ms / 1e3),
                    train=dict(median_s=3 * ms / 1e3, min_s=3 * ms / 1e3))

    monkeypatch.setattr(tool, 'spawn', fake_spawn)
    monkeypatch.setenv('MALLOC_ARENA_MAX_', '2')  # a user's setting
    args = tool.parse_args(['hvt', '--official-repo', '/x', '--skip-flops'])
    assert args.allocators == ['default', 'kept']
    row = tool.run_pair(args, 'ti-1', (224, 224), rate=1e11)
    tool.print_table(args, [row])
    out = capsys.readouterr().out
    assert row['ratios'] == {'default': (2.5, 2.5), 'kept': (1.25, 1.25)}
    assert '| ti-1 224x224 batch 8 | 2.50 / 1.25 | 2.50 / 1.25 | 1.00 |' \
        in out
    assert "glibc's defaults" in out and 'glibc keeping freed memory' in out
    for allocator, env in envs:
        assert env['VIT_BACKBONES_MALLOC'] == 'default'
        assert 'MALLOC_ARENA_MAX_' not in env
        kept = allocator == 'kept'
        assert ('MALLOC_MMAP_THRESHOLD_' in env) == kept, allocator
    assert tool.parse_args(['zoo', '--allocator', 'kept']).allocators == [
        'kept']


@pytest.mark.parametrize('env,expected', [
    ({}, 'glibc defaults (set VIT_BACKBONES_MALLOC=keep'),
    ({'VIT_BACKBONES_MALLOC': 'keep'}, 'kept'),
    ({'VIT_BACKBONES_MALLOC': 'keep', 'MALLOC_TOP_PAD_': '0'},
     'from the environment'),
    ({'VIT_BACKBONES_MALLOC': 'keep', 'LD_PRELOAD': 'libjemalloc.so.2'},
     'preloaded allocator'),
])
def test_tools_keep_freed_memory_on_request(env, expected):
    """With VIT_BACKBONES_MALLOC=keep the tools make glibc keep freed
    memory (mallopt), unless the user chose an allocator or its settings.
    In a fresh process: the setting is process-wide."""
    import os
    import subprocess
    import sys
    clean = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith('MALLOC_') and k.endswith('_'))
        and k not in ('VIT_BACKBONES_MALLOC', 'LD_PRELOAD')
    }
    code = ('from vit_backbones.tools.runtime import keep_freed_memory; '
            'print(keep_freed_memory())')
    # LD_PRELOAD is only read here, never loaded: the variable is set for
    # the child after it started (the library need not exist)
    if 'LD_PRELOAD' in env:
        env = dict(env)
        code = (f'import os; os.environ["LD_PRELOAD"] = '
                f'{env.pop("LD_PRELOAD")!r}; ' + code)
    out = subprocess.run([sys.executable, '-c', code],
                         env=dict(clean, **env), capture_output=True,
                         text=True, check=True).stdout
    assert expected in out
