"""reconciler: a GitOps control plane for Drupal hosting, the successor of Aegir."""

__all__ = ["__version__"]

__version__ = "0.1.0"
