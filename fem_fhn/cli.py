"""The `fem-fhn` command.

    fem-fhn run [CONFIG] [--out DIR]      run a simulation (the bundled default without CONFIG)
    fem-fhn run CONFIG --restart DIR      continue the run in DIR from its checkpoint
    fem-fhn validate CONFIG [--out DIR] [--restart DIR]
                                          every check `run` makes before time stepping (the
                                          mesh is read and the model built), nothing written
    fem-fhn neuron [--a A ...] --out PNG  phase plane of the single neuron
    fem-fhn mesh NAME [--h H] --out FILE  write a bundled domain's mesh as .msh
    fem-fhn dispersion CONFIG --out DIR   dispersion relation, Turing analysis, parameter map
    fem-fhn limit-study CONFIG --eps E1 E2 ... --out DIR   kinetic → macroscopic as ε → 0
    fem-fhn compare CONFIG --n N1 N2 ... --out DIR         network → kinetic/macroscopic as n → ∞

Exit codes:
    0    success
    1    bad input: the one-line message names the key, the value and what is allowed; nothing
         is written to the output folder
    2    runtime failure (e.g. the solution became non-finite): the message names the time, the
         step and likely causes; the last good state is saved as a checkpoint
    130  `fem-fhn run` stopped by SIGINT (Ctrl-C), 143 by SIGTERM (128 + the signal number):
         a checkpoint is written, the output files are closed, summary.json says
         "status": "interrupted"; continue with `fem-fhn run CONFIG --restart DIR`.
         A second signal ends the process at once (no new checkpoint; summary.json says
         "interrupted"). A signal after the final checkpoint leaves the run "completed" (exit 0,
         the pictures not yet drawn are skipped).
The exit code and summary.json's "status" always agree: 0 completed, 2 failed, 128 + n
interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys

from mpi4py import MPI

EXIT_OK, EXIT_BAD_INPUT, EXIT_RUNTIME = 0, 1, 2
EXIT_SIGNAL = 128  # + the signal number: 130 SIGINT, 143 SIGTERM


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fem-fhn", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a simulation from a TOML config")
    run.add_argument("config", nargs="?", help="TOML config (default: the bundled demo)")
    run.add_argument("--out", help="output folder (default: [output] dir of the config)")
    run.add_argument("--quiet", action="store_true", help="no progress bar or info log")
    run.add_argument(
        "--restart",
        metavar="DIR",
        help="continue from the checkpoint of the run in DIR (output to DIR unless --out)",
    )
    run.add_argument(
        "--profile",
        action="store_true",
        help="also write a cProfile dump of the time stepping: OUT/profile.prof (rank 0)",
    )

    val = sub.add_parser("validate", help="run every check of `run` without time stepping")
    val.add_argument("config")
    val.add_argument("--out", help="output folder to check (default: [output] dir)")
    val.add_argument("--restart", metavar="DIR", help="check the restart from DIR as well")

    neuron = sub.add_parser("neuron", help="draw the single-neuron phase plane to PNG")
    neuron.add_argument("--config", help="take [model] from this TOML config")
    for name in ("a", "b", "tau", "I-ext", "v0", "w0", "t-end"):
        neuron.add_argument(f"--{name}", type=float)
    neuron.add_argument("--out", default="neuron.png", help="PNG file (default neuron.png)")

    mesh = sub.add_parser("mesh", help="generate a bundled domain as .msh")
    mesh.add_argument("name")
    mesh.add_argument("--h", type=float, help="target mesh size (default: the domain's coarse h)")
    mesh.add_argument("--out", required=True, help=".msh file to write")
    disp = sub.add_parser("dispersion", help="dispersion relation and Turing analysis")
    disp.add_argument("config", help="TOML with [model], [kernel] and optional [dispersion]")
    disp.add_argument("--out", required=True, help="output folder")

    study = sub.add_parser("limit-study", help="relative entropy kinetic vs macroscopic over ε")
    study.add_argument("config", help="TOML config with a [kinetic] table")
    study.add_argument("--eps", type=float, nargs="+", required=True, help="values of ε")
    study.add_argument("--out", required=True, help="output folder")
    comp = sub.add_parser("compare", help="network moments against kinetic/macroscopic over n")
    comp.add_argument("config", help="TOML config with [network] (and optionally [kinetic])")
    comp.add_argument("--n", type=int, nargs="+", required=True, help="numbers of neurons")
    comp.add_argument("--out", required=True, help="output folder")
    return parser


def _cmd_compare(args) -> None:
    from fem_fhn.studies import compare

    result = compare(args.config, args.n, args.out)
    if MPI.COMM_WORLD.rank == 0:
        radii = ", ".join(f"{r:.3g}" for r in result["radius"])
        slopes = ", ".join(f"{k}: {v:.2f}" for k, v in result.get("slope", {}).items())
        print(
            f"r(n) = [{radii}]; log-log slopes of sup_t distance against n: {slopes or '-'}; "
            f"written to {args.out}/"
        )


def _cmd_dispersion(args) -> None:
    from fem_fhn.plot_stability import dispersion_command

    if MPI.COMM_WORLD.rank == 0:
        summary = dispersion_command(args.config, args.out)
        kind = summary["kind"] or "none"
        print(f"instability: {kind}; k_max = {summary['k_max']}; written to {args.out}/")


def _cmd_limit_study(args) -> None:
    from fem_fhn.studies import describe_limit_study, limit_study

    result = limit_study(args.config, args.eps, args.out)
    if MPI.COMM_WORLD.rank == 0:
        print(
            f"rate of sup_t H against eps: {result['rate']:.3f} over eps = {result['window']} "
            f"(theorem's bound: {result['theorem_rate']:.3f}); written to {args.out}/"
        )
        print(describe_limit_study(result))


def _cmd_run(args) -> int:
    from fem_fhn.config import load_config
    from fem_fhn.runner import run
    from fem_fhn.simulation import StopRequest

    config = load_config(args.config)
    if args.quiet:
        from dataclasses import replace

        config = replace(config, output=replace(config.output, progress=False))
    # the handlers stay until the command returns, so a late signal cannot end the process
    # with a status that summary.json does not say
    with StopRequest() as stop:
        summary = run(config, args.out, restart=args.restart, stop=stop, profile=args.profile)
        return _report_run(args, config, summary)


def _report_run(args, config, summary: dict) -> int:
    out = summary.get("output", args.out or config.output.dir)
    if summary.get("status") == "interrupted":
        if MPI.COMM_WORLD.rank == 0:
            where = summary.get("checkpoint", {})
            print(
                f"fem-fhn: interrupted by {summary['signal']} at t = {where.get('t', 0.0):g} "
                f"(step {where.get('steps', 0)}); checkpoint in {where.get('dir')}; continue "
                f"with: fem-fhn run {args.config or ''} --restart {out}",
                file=sys.stderr,
            )
        return EXIT_SIGNAL + int(summary["signal_number"])
    if MPI.COMM_WORLD.rank == 0 and not args.quiet:
        final = summary["final"]
        name = next(key[4:] for key in final if key.startswith("min_"))  # the first field: V
        low, high = final[f"min_{name}"], final[f"max_{name}"]
        print(
            f"done: {summary['time']['steps']} steps in {summary['time']['wall_time_s']:.1f} s "
            f"on {summary['ranks']} rank(s); {name} in [{low:.3f}, {high:.3f}]; "
            f"output in {out}/ ({', '.join(summary['files'])})"
        )
    return EXIT_OK


def _cmd_validate(args) -> None:
    from fem_fhn.config import load_config
    from fem_fhn.runner import preflight

    config = load_config(args.config)
    prepared = preflight(config, MPI.COMM_WORLD, args.out, args.restart)
    if MPI.COMM_WORLD.rank == 0:
        nodes = prepared.setup.nodes
        print(
            f"{args.config}: valid (mesh {config.mesh.source!r} with {nodes.n_global} nodes, "
            f"scheme {config.time.scheme!r}; nothing written)"
        )


def _writable_file(path: str, key: str = "--out") -> None:
    """Refuse (ConfigError) a file path that is a folder or whose folder cannot be written."""
    from pathlib import Path

    from fem_fhn.config import ConfigError
    from fem_fhn.runner import check_output_dir

    target = Path(path)
    allowed = "allowed: a file name in a folder that exists or can be created, and can be written"
    if target.is_dir():
        raise ConfigError(f"{key} = {path!r} is not allowed: it is a folder; {allowed}")
    try:
        check_output_dir(target.parent, key)
    except ConfigError as err:
        why = str(err).split(" is not allowed: ", 1)[-1].split("; allowed")[0]
        raise ConfigError(f"{key} = {path!r} is not allowed: {why}; {allowed}") from None


def _cmd_neuron(args) -> None:
    import math

    from fem_fhn import neuron
    from fem_fhn.config import load_config
    from fem_fhn.params import FHNParameters, require
    from fem_fhn.plot import phase_plane_figure

    for name in ("a", "b", "tau", "I_ext", "v0", "w0", "t_end"):
        value = getattr(args, name)
        if value is not None:
            flag = "--" + name.replace("_", "-")
            require(math.isfinite(value), flag, value, "a finite number")
    if args.t_end is not None:
        require(args.t_end > 0, "--t-end", args.t_end, "a time > 0")
    _writable_file(args.out)
    params = load_config(args.config).model if args.config else FHNParameters()
    changes = {
        k: getattr(args, k) for k in ("a", "b", "tau", "I_ext") if getattr(args, k) is not None
    }
    params = params.replace(**changes)
    if MPI.COMM_WORLD.rank == 0:
        options = {
            k: getattr(args, k) for k in ("v0", "w0", "t_end") if getattr(args, k) is not None
        }
        path = phase_plane_figure(params, args.out, **options)
        print(f"{neuron.classify(params)}: phase plane written to {path}")


def _cmd_mesh(args) -> None:
    from fem_fhn import meshes

    _writable_file(args.out)
    if MPI.COMM_WORLD.rank == 0:
        path = meshes.generate(args.name, args.h, args.out)
        print(f"wrote {path}")


COMMANDS = {
    "run": _cmd_run,
    "validate": _cmd_validate,
    "neuron": _cmd_neuron,
    "mesh": _cmd_mesh,
    "dispersion": _cmd_dispersion,
    "limit-study": _cmd_limit_study,
    "compare": _cmd_compare,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (see module docstring)."""
    from fem_fhn.params import ParameterError
    from fem_fhn.simulation import SimulationError

    args = _parser().parse_args(argv)
    rank = MPI.COMM_WORLD.rank
    quiet = getattr(args, "quiet", False)
    logging.basicConfig(
        level=logging.INFO if rank == 0 and not quiet else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        code = COMMANDS[args.command](args)
    except (ParameterError, ValueError, FileNotFoundError) as err:
        return _fail(rank, err, EXIT_BAD_INPUT)
    except (SimulationError, FloatingPointError, RuntimeError, OSError) as err:
        return _fail(rank, err, EXIT_RUNTIME)
    return code or EXIT_OK


def _fail(rank: int, err: Exception, code: int) -> int:
    if rank == 0:
        message = " ".join(str(err).split())
        print(f"fem-fhn: error: {message}", file=sys.stderr)
    return code


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
