"""Payment service providers behind one gateway interface (base.py, registry.py, one
package per provider). Nothing here imports strawberry, FastAPI or database sessions."""
