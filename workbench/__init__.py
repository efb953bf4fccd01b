"""OT-Rematch Workbench: robust cross-modal retrieval with optimal transport.

The library (this package) holds data loading, the OT solvers, models, losses, methods, training,
evaluation, the run-directory store and figure builders. Notebooks, the Streamlit app and the command
line are consumers of it; it never imports them.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
