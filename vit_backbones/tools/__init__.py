"""What serves the scripts in ``tools/`` and the demos, not the library.

Nothing in :mod:`vit_backbones.models`, :mod:`~vit_backbones.converters`,
:mod:`~vit_backbones.engine` or the loading and export modules imports from
here, and ``import vit_backbones`` does not import it.

* :mod:`.runtime`: process set-up of ``tools/train.py``/``test.py``
  (``--unsafe-load``, distributed runs without CUDA, freeing the gloo
  group at the end).
* :mod:`.data_check`: the tools' check that a config's data is there.
* :mod:`.complexity`: parameters and FLOPs (``get_flops.py``, metafiles).
* :mod:`.benchmark`: timing and memory of the benchmark scripts.
* :mod:`.publish`: ``publish_model.py``.
* :mod:`.demo_data`, :mod:`.demo_report`: the synthetic demo data set and
  the report of a demo run.
"""
