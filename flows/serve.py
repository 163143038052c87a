"""`python -m flows.serve`: serve the deployments from this process (the one-machine way; started
by `hazard serve`). Prefect's runner polls the API for due runs and runs each in a subprocess."""

from __future__ import annotations

from prefect import serve

from flows.deployments import runner_deployments


def main() -> None:
    serve(*runner_deployments(), print_starting_message=False)


if __name__ == "__main__":
    main()
