"""torch.distributed code: collectives with byte counters, TP-A and phantom-parallel FFNs,
process-group runtime. Everything here also runs with world size 1 (no process group)."""
