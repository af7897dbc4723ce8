"""Parts of tools/silent_loss_lab.py: the lab configuration, the programs run inside the
namespaces, the tshark-measured answer key and the README writer."""
