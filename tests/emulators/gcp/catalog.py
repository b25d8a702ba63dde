"""What the emulated project can launch: machine types, public images, zones.

Figures are Compute's published ones for these types.
"""

# name -> (guestCpus, memoryMb, [(accelerator type, count)], description)
MACHINE_TYPES = {
    "n1-standard-1": (1, 3840, [], "1 vCPU, 3.75 GB RAM"),
    "n1-standard-2": (2, 7680, [], "2 vCPUs, 7.5 GB RAM"),
    "n1-standard-4": (4, 15360, [], "4 vCPUs, 15 GB RAM"),
    "n1-standard-8": (8, 30720, [], "8 vCPUs, 30 GB RAM"),
    "n2-standard-2": (2, 8192, [], "2 vCPUs, 8 GB RAM"),
    "n2-standard-4": (4, 16384, [], "4 vCPUs, 16 GB RAM"),
    "n2-standard-8": (8, 32768, [], "8 vCPUs, 32 GB RAM"),
    "n2-standard-16": (16, 65536, [], "16 vCPUs, 64 GB RAM"),
    "e2-micro": (2, 1024, [], "Efficient Instance, 2 vCPU(s), 1 GB RAM"),
    "e2-small": (2, 2048, [], "Efficient Instance, 2 vCPU(s), 2 GB RAM"),
    "e2-medium": (2, 4096, [], "Efficient Instance, 2 vCPU(s), 4 GB RAM"),
    "e2-standard-2": (2, 8192, [], "Efficient Instance, 2 vCPUs, 8 GB RAM"),
    "e2-standard-4": (4, 16384, [], "Efficient Instance, 4 vCPUs, 16 GB RAM"),
    "e2-standard-8": (8, 32768, [], "Efficient Instance, 8 vCPUs, 32 GB RAM"),
    "a2-highgpu-1g": (12, 87040, [("nvidia-tesla-a100", 1)], "Accelerator Optimized: 1 NVIDIA Tesla A100 GPU, "
                                                               "12 vCPUs, 85GB RAM"),
    "g2-standard-4": (4, 16384, [("nvidia-l4", 1)], "Accelerator Optimized: 1 NVIDIA L4 GPU, 4 vCPUs, 16GB RAM"),
    "g2-standard-8": (8, 32768, [("nvidia-l4", 1)], "Accelerator Optimized: 1 NVIDIA L4 GPU, 8 vCPUs, 32GB RAM"),
    "g2-standard-24": (24, 98304, [("nvidia-l4", 2)], "Accelerator Optimized: 2 NVIDIA L4 GPUs, 24 vCPUs, "
                                                        "96GB RAM"),
}

# Accelerators that can be attached to N1 types with guestAccelerators.
ACCELERATOR_TYPES = {
    "nvidia-tesla-t4": "NVIDIA T4",
    "nvidia-tesla-v100": "NVIDIA V100",
    "nvidia-tesla-a100": "NVIDIA A100 40GB",
    "nvidia-l4": "NVIDIA L4",
}

# (project, name, family, description, architecture, diskSizeGb)
IMAGES = [
    ("ubuntu-os-cloud", "ubuntu-2204-jammy-v20250112", "ubuntu-2204-lts",
     "Canonical, Ubuntu, 22.04 LTS, amd64 jammy image built on 2025-01-12", "X86_64", 10),
    ("ubuntu-os-cloud", "ubuntu-2404-noble-amd64-v20250107", "ubuntu-2404-lts-amd64",
     "Canonical, Ubuntu, 24.04 LTS, amd64 noble image built on 2025-01-07", "X86_64", 10),
    ("ubuntu-os-cloud", "ubuntu-2404-noble-amd64-v20241219", "ubuntu-2404-lts-amd64",
     "Canonical, Ubuntu, 24.04 LTS, amd64 noble image built on 2024-12-19", "X86_64", 10),
    ("debian-cloud", "debian-12-bookworm-v20250113", "debian-12",
     "Debian, Debian GNU/Linux, 12 (bookworm), amd64 built on 20250113", "X86_64", 10),
    ("deeplearning-platform-release", "common-cu124-v20250109-debian-11-py310", "common-cu124-debian-11-py310",
     "Google, Deep Learning VM with CUDA 12.4, M127, Debian 11, Python 3.10", "X86_64", 50),
    # Ray's default image family for GCP nodes.
    ("deeplearning-platform-release", "common-cpu-v20250109-debian-11", "common-cpu",
     "Google, Deep Learning VM for CPU, M127, Debian 11, Python 3.10", "X86_64", 50),
]


def machine_type_cpus(name):
    return MACHINE_TYPES[name][0]


def machine_type_gpus(name):
    return sum(count for _, count in MACHINE_TYPES[name][2])
