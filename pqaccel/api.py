"""The Python API: what the command line does, as functions a notebook calls (``docs/api.md``).

Every name here is the function the CLI command itself calls, imported on first use (so
``from pqaccel.api import convert`` does not load Amaranth, and ``pqaccel.api.generate`` does
not load ONNX).  Configurations: :func:`preset`, :class:`EngineConfig`, :class:`MacConfig`
(:meth:`MacConfig.for_engine`), :class:`LayerConfig`; networks: :func:`load_onnx`,
:func:`load_dataset`, :func:`convert`, :func:`finetune`, :func:`evaluate`, :func:`run_int`,
:func:`save_bundle`, :func:`load_bundle`, :func:`run_rtl`; hardware: :func:`generate`,
:func:`run_cosim`, :func:`synthesize`, :func:`place_and_route`, :func:`estimate`,
:func:`compare`.
"""

import importlib

#: Public name -> ``module:attribute`` it stands for.
API = {
    # configurations
    "preset": "pqaccel.presets:preset",
    "PRESETS": "pqaccel.presets:PRESETS",
    "load_config_file": "pqaccel.presets:load_config_file",
    "EngineConfig": "pqaccel.engines.pq.config:EngineConfig",
    "MacConfig": "pqaccel.engines.mac.config:MacConfig",
    "LayerConfig": "pqaccel.config:LayerConfig",
    "Widths": "pqaccel.config:Widths",
    "Parallelism": "pqaccel.config:Parallelism",
    "Requant": "pqaccel.config:Requant",
    "ENGINES": "pqaccel.engines:ENGINES",
    "engine_from_manifest": "pqaccel.engines:engine_from_manifest",
    # networks (net convert / eval / run / sweep)
    "load_onnx": "pqaccel.net.graph:load_onnx",
    "run_float": "pqaccel.net.graph:run_float",
    "load_dataset": "pqaccel.net.datasets:load_dataset",
    "load_npz": "pqaccel.net.datasets:load_npz",
    "convert": "pqaccel.net.conversion:convert",
    "sweep_engine": "pqaccel.net.conversion:sweep_engine",
    "FinetuneSettings": "pqaccel.net.finetune:FinetuneSettings",
    "finetune": "pqaccel.net.finetune:finetune",
    "evaluate": "pqaccel.net.evaluation:evaluate",
    "accuracy": "pqaccel.net.evaluation:accuracy",
    "sweep": "pqaccel.net.evaluation:sweep",
    "run_int": "pqaccel.net.intmodel:run_int",
    "table_bits": "pqaccel.net.intmodel:table_bits",
    "save_bundle": "pqaccel.net.bundle:save_bundle",
    "load_bundle": "pqaccel.net.bundle:load_bundle",
    "run_rtl": "pqaccel.net.rtlrun:run_rtl",
    "network_cycles": "pqaccel.net.perf:network_cycles",
    # hardware (generate / cosim / synth / pnr / estimate / compare / dse)
    "engine_rtl": "pqaccel.rtl:engine_rtl",
    "generate": "pqaccel.export:generate",
    "run_cosim": "pqaccel.sim.runner:run_cosim",
    "synthesize": "pqaccel.compare:synth_design",
    "place_and_route": "pqaccel.compare:pnr_design",
    "estimate": "pqaccel.estimate:estimate",
    "compare": "pqaccel.compare:compare",
    "load_space": "pqaccel.dse:load_space",
    "run_dse": "pqaccel.dse:run_dse",
}

__all__ = sorted(API)


def __getattr__(name):
    if name not in API:
        raise AttributeError(f"module 'pqaccel.api' has no attribute {name!r}")
    module, attr = API[name].split(":")
    # looked up on every access, never cached here: the name is always the module's current one
    return getattr(importlib.import_module(module), attr)


def __dir__():
    return __all__
