"""`handbook bench`: the load benchmark behind the speed bars (DESIGN.md §5).

One run measures the framework ceiling (a bare FastAPI endpoint, `ceiling.py`) and the product's
authenticated reads on a generated province in PostgreSQL, with the same uvicorn setup and worker
counts, and reports every figure as a ratio of the ceiling measured in the same run.
"""
