"""Kubernetes names for a capture, and the cluster's own view held against it.

    cluster = load_cluster("cluster.json")            # kubectl get nodes,pods,services -A -o json > cluster.json
    data = pcapdiag.analyze("capture.pcap").to_dict()
    data["findings"] += cross_check(data, cluster)    # where capture and cluster disagree
    named = annotate(data, cluster)                   # a copy with names added beside the addresses
    print("\\n".join(text_lines(data, cluster)))        # the "Cluster" section of the text report
    expectations(cluster)                             # what `pcapdiag baseline` may record from it

What is read (and nothing more): node names, InternalIP/ExternalIP, spec.podCIDR(s), creation and
heartbeat times; flannel's public-ip, backend-type and backend-data (VNI, VtepMAC); Calico's
IPv4Address and IPIP/VXLAN tunnel addresses; Cilium's pod-CIDR, health and cilium_host addresses
(network.cilium.io/ and the older io.cilium.network. spelling); pods' podIP(s), nodeName,
hostNetwork, namespace, name, controller owner, phase and start time; services' cluster IP(s) and
ports. YAML (kubectl -o yaml) is read when PyYAML is installed. Anything unusable raises ClusterError
with one line naming the file, the object and the field.

Findings (the report's shape: id, severity, summary, count, evidence, fix, reliable; evidence is
structured, with "examples" lines for the text report and "names" {address: name}):

cluster.pod-on-wrong-node (error)
    when: a pod address is behind (report nodes[].pods) a node other than the one the dump places
    the pod on: a stale route, or an IPAM bug that gave the address to a pod on another node too.
    evidence.pods[]: address, pod, cluster_node, cluster_node_address, seen_behind, seen_node
cluster.stale-vtep-mac (error)
    when: a node's VXLAN traffic comes from inner source MACs (report nodes[].macs) none of which is
    its annotated flannel VtepMAC: its peers program the annotated MAC into their FDB/neighbour
    tables, so what they tunnel to it is dropped (flannel after a node or flannel.1 was recreated).
    evidence.nodes[]: node, address, annotated_vtep_mac, seen_macs
cluster.backend-mismatch (error)
    when: a node's tunnel traffic is of another class than its CNI's configured backend (flannel
    backend-type vxlan, host-gw (native), udp, ipip, wireguard (native); Calico: the classes of its
    IPIP/VXLAN tunnel addresses), or VXLAN with another VNI than flannel's backend-data.
    evidence.nodes[]: node, address, configured, configured_classes, configured_vni,
    seen_classes {class: packets}, seen_vnis
cluster.unknown-node (warning)
    when: tunnel traffic goes to or comes from an underlay address that is no node of the dump: a
    removed node still routed to, or a node missing from the dump.
    evidence.addresses[]: address, packets, peers, peer_names
cluster.pod-outside-cidr (warning)
    when: a pod address seen on the wire lies outside its node's pod CIDRs (Cilium's annotated
    CIDR, else spec.podCIDRs; never for Calico, whose IPAM ignores spec.podCIDR). Its node is the
    dump's, or for an address missing from the dump the one it is seen behind; pods reported as
    cluster.pod-on-wrong-node are left out.
    evidence.pods[]: address, pod, node, node_pod_cidrs
cluster.stale-dump (warning or info)
    when: pods in the dump were created or started after the capture ended (warning when their
    addresses are in the capture: those names may have belonged to other pods then), or the dump's
    newest time stamp (node heartbeats, creations, pod starts) is over an hour before the capture.
    evidence: capture_start, capture_end, newest_in_dump, started_after_capture[]: pod, started,
    addresses_on_wire
cluster.unknown-address (info)
    when: an inner address on the wire (flows, nodes[].pods) is no pod, node (underlay or tunnel
    address, flannel's flannel.1 and cni0) or service of the dump; multicast, broadcast, loopback,
    link-local and unspecified addresses are left out.
    evidence.addresses[]: address, packets, seen_behind, in_pod_cidr_of

Only inner source MACs are in the report, so a stale FDB entry on a peer whose node annotation is
right (inner destination MAC wrong) is not seen; flannel's vxlan backend with DirectRouting sends
natively between nodes of one subnet, which is therefore never a mismatch.
"""
from .checks import FINDINGS, cross_check
from .expect import expectations
from .load import cluster_from_documents, load_cluster
from .model import Backend, Cluster, ClusterError, Endpoint, Node, Pod, Service
from .names import annotate, text_lines

__all__ = ["load_cluster", "cluster_from_documents", "Cluster", "ClusterError", "Node", "Pod", "Service",
           "Backend", "Endpoint", "annotate", "cross_check", "text_lines", "expectations", "FINDINGS"]
