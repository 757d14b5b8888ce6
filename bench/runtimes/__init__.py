"""The network runtimes: what runs HigherHRNet behind the pipeline's forward stage.

``torch`` runs the ``nn.Module`` itself. Every other runtime runs our reference model exported to ONNX
(``export``) and compiled by that runtime, behind an adapter module with the model's interface
(``onnxruntime_network``, ``openvino_network``; int8 through NNCF, ``quantize``), so pre-processing,
flip, aggregation, grouping and evaluation stay the one shared pipeline of ``reference.pipeline`` and
its stage names do not change. ``build.build_network`` makes the module a ``Predictor`` runs;
``names`` holds the vocabulary and imports nothing heavy, ``available`` checks before any work that a
runtime can run here.
"""
