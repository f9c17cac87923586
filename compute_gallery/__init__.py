"""compute-gallery: a self-hosted Azure Compute Gallery control plane for VM Applications."""

__version__ = "0.1.0"
