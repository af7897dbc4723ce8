"""The sample maker's parts (see tools/make_samples.py, which runs them): a network-namespace lab that
produces real kernel traffic, the dpkt-wrapped samples, their checker and the answer key."""
