"""The viewer's HTTP side: a JSON API over :class:`RunStore` and the single page that uses it."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import FileResponse

from agents.metrics import charts
from agents.viewer.store import NotFoundError, RunStore

STATIC = Path(__file__).with_name("static")
PAGE_SIZE = 50


def create_app(root: Path) -> FastAPI:
    """A read-only viewer of the runs under ``root`` (GET only; runs are addressed by name). Errors are
    FastAPI's own ``{"detail": ...}``: a local tool, it needs none of the services' token or limits."""
    store = RunStore(root)
    app = FastAPI(title="ResRL-Gym replay viewer")

    def found(call: Any) -> Any:
        try:
            return call()
        except NotFoundError as error:
            raise HTTPException(404, str(error)) from None

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> FileResponse:
        files = {p.name: p for p in STATIC.iterdir()}  # only the page's own files, by name
        if name not in files:
            raise HTTPException(404, f"no static file {name!r}")
        return FileResponse(files[name])

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "runs": len(store.runs)}

    @app.get("/api/metrics")
    def metric_table() -> list[dict[str, Any]]:
        return charts()  # what the page charts, from the same table as the terminal row and the report

    @app.get("/api/runs")
    def runs() -> list[dict[str, Any]]:
        return [store.describe(name) for name in sorted(store.runs)]

    @app.get("/api/runs/{run:path}/metrics")
    def metrics(run: str) -> dict[str, Any]:
        rows, problems = found(lambda: store.metrics(run))
        return {"rows": rows, "problems": problems}

    @app.get("/api/runs/{run:path}/iterations/{iteration}/trajectories")
    def trajectories(run: str, iteration: int, env: str = "", task_type: str = "", outcome: str = "",
                     q: str = "", group: str = "", offset: int = Query(0, ge=0),
                     limit: int = Query(PAGE_SIZE, ge=1, le=500)) -> dict[str, Any]:
        summaries, problems = found(lambda: store.summaries(run, iteration))
        words = q.lower().split()
        chosen = [s for s in summaries
                  if (not env or s.env_id == env) and (not task_type or s.task_type == task_type)
                  and (outcome != "success" or s.success) and (outcome != "failure" or not s.success)
                  and (not group or s.group_id == group) and all(w in s.text for w in words)]
        return {
            "total": len(chosen), "offset": offset, "problems": problems,
            "envs": sorted({s.env_id for s in summaries}), "task_types": sorted({s.task_type for s in summaries}),
            "items": [{k: v for k, v in asdict(s).items() if k != "text"} for s in chosen[offset:offset + limit]],
        }

    @app.get("/api/runs/{run:path}/iterations/{iteration}/trajectories/{index}")
    def trajectory(run: str, iteration: int, index: int) -> dict[str, Any]:
        return dict(found(lambda: store.trajectory(run, iteration, index)))

    return app
