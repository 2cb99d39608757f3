"""The VAD corpus: offline sources, synthetic speech, noise, labels, mixing, manifest and dataset loaders.

Public API (contract B): `train.data.corpus.load_manifest`, `train.data.corpus.read_clip`,
`train.data.build.build_corpus`, `train.data.loaders.import_dataset`.
"""
