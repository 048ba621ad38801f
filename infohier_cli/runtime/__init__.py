"""Where a command runs: the device (`device`) and torchrun / DDP processes (`distributed`)."""
