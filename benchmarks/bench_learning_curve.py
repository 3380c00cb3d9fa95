"""Learning curve of ``watchwait train`` and ``watchwait update`` against generic peers and the shipped model (issue 16).

One run, one set of fresh test patients per site generator. For each generator (:mod:`watchwait.sim`, the
shipped model's own, and :mod:`watchwait.sim.alt`, a population unlike it) one pool of 20,000 simulated
patients is drawn once (cached outside the repository); a training cohort of n patients is the first n of a
seeded permutation of the pool (seed 0: nested subsets). Per size, generator and seed:

* ``train``: :func:`watchwait.training.train` on the n patients (``truth`` given, 8 bootstrap members; it tunes its
  penalty and tree count by CV and keeps 20% of the n for its interval and card: n is the cohort given to it);
* ``update``: :func:`watchwait.updating.update` of the shipped model (``load_model()``) on the same n patients, and the
  level it chose. On ``simulate`` that is the same-population case; on ``simulate_alt`` it is the *shift* scenario
  (base model from ``simulate``, site from ``simulate_alt``);
* the shipped model as it is (the same for every n; on ``simulate_alt`` the shift scenario);
* peers fitted on all n patients: logistic regression with missing-value indicators (:func:`watchwait.peers.logistic`),
  a spline logistic (SplineTransformer, quantile knots, on the continuous columns, missing-value indicators, one-hot
  categories; penalty by ``LogisticRegressionCV`` on log-loss), InterpretML's EBM (when ``interpret`` imports: as
  in bench_quality.py) and HistGradientBoosting (:func:`watchwait.peers.hgb`).

Scored on 5,000 fresh patients of the site's generator (their own seed): AUC / the oracle's AUC, mean |p - true
probability| ("gap"), calibration slope, and for the watchwait models the coverage of the true probability by the
90% interval (``predictor.interval`` with ``missing_groups``). Wrong-way moves: every direction of
:func:`watchwait.directions.pairs` on the sample patients (``sample_data/sample_patients.csv``), a move counted when
the probability falls by more than 1e-9.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_learning_curve.py [--sizes 150 300 600 1200 4000 20000]
        [--generators simulate,alt] [--seeds 1] [--seeds-max 1200] [--models train,update,shipped,peers]
        [--no-ebm] [--ebm-max N] [--update-max N] [--cache DIR] [--out benchmarks/results/learning_curve.json]
    .venv/bin/python benchmarks/bench_learning_curve.py --report   # tables and targets from the JSON only (rewrites the .md)

Every result is written to the JSON as it lands (no patient data: figures only), merged by (generator, size, seed,
model) with what is there, so the rows of a model that could not run yet (the shipped model, ``update``) can be added
by a second invocation on the same cached patients. A markdown report (tables per scenario, PASS/FAIL lines for
the issue's targets) is rewritten beside it after every row.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import datetime as _dt  # noqa: E402
import json  # noqa: E402
from bench_cache import cached_cohort  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", message="Missing values detected")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from watchwait import sim as sim_main  # noqa: E402
from watchwait.sim import alt as sim_alt  # noqa: E402
from watchwait.artifacts import columns_of  # noqa: E402
from watchwait.directions import pairs  # noqa: E402
from watchwait.metrics import classification_metrics  # noqa: E402
from watchwait.errors import ModelArtifactError, WatchwaitError  # noqa: E402
from watchwait.model import missing_groups  # noqa: E402
from watchwait.peers import CATEGORICAL, NUMERIC, raw_columns  # noqa: E402
from watchwait.sim import to_csv_frame  # noqa: E402
from watchwait.training import outcome  # noqa: E402
from watchwait.validation import read_cohort, validate_frame  # noqa: E402

GENERATORS = {"simulate": sim_main, "alt": sim_alt}
SIZES = (150, 300, 600, 1200, 4000, 20000)
POOL_SEED = {"simulate": 16_100, "alt": 16_101}  # not the seeds of the shipped model's or the other benchmarks' files
TEST_SEED = {"simulate": 16_200, "alt": 16_201}
TOL = 1e-9
GAP_TOL = 0.003
SLOPE_RANGE = (0.9, 1.1)
SHIFT_MAX = 600
PEERS = ("logistic", "spline", "ebm", "hgb")
LABEL = {"train": "`train` (tuned)", "update": "`update` of the shipped model", "shipped": "shipped model as it is",
         "logistic": "logistic + missing indicators", "spline": "spline logistic (CV penalty)",
         "ebm": "EBM (interactions 3x, 8 bags)", "hgb": "HistGradientBoosting"}
SCENARIO = {"simulate": "same population as the shipped model (site and test: `simulate`)",
            "alt": "shift (site and test: `simulate_alt`; shipped model and update base from `simulate`)"}


# ----------------------------------------------------------------------------- patients

def _cohort(gen: str, n: int, seed: int, cache: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    t = time.perf_counter()
    frame, truth = cached_cohort(cache, f"lc_{gen}_{n}_{seed}", lambda: GENERATORS[gen].simulate(n, seed=seed))
    print(f"(cohort of {n} {gen} patients, seed {seed}: {time.perf_counter() - t:.0f} s)", flush=True)
    return frame, truth[["patient_id", "p_oracle"]].copy()


def training_cohort(pool: tuple[pd.DataFrame, pd.DataFrame], n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame, truth = pool
    idx = np.arange(len(frame)) if n >= len(frame) else np.random.default_rng(seed).permutation(len(frame))[:n]
    return frame.iloc[idx].reset_index(drop=True), truth.iloc[idx].reset_index(drop=True)


def _records(frame: pd.DataFrame) -> list[dict]:
    return [{k: (None if v is None or (isinstance(v, float) and np.isnan(v)) else v) for k, v in r.items()}
            for r in frame.astype(object).to_dict("records")]


def wrong_way(predict, samples: pd.DataFrame) -> tuple[int, int, list[str]]:
    """(moves against the direction of the evidence, moves tried, "direction id @ sample patient (-drop)" of each)."""
    changes = pairs(_records(samples))
    before = predict(samples)
    after = predict(pd.DataFrame([b for _, _, b in changes], columns=samples.columns))
    idx = np.array([i for _, i, _ in changes])
    bad = after < before[idx] - TOL
    where = [f"{changes[k][0]} @ {samples['patient_id'].iloc[changes[k][1]]} ({after[k] - before[idx[k]]:+.2g})"
             for k in np.flatnonzero(bad)]
    return int(bad.sum()), len(changes), where


# ----------------------------------------------------------------------------- peers

class SplineLogistic:
    """Logistic regression on natural-ish cubic splines (quantile knots, linear beyond them) of every continuous raw
    column, the discrete numbers as they are, missing-value indicators, one-hot categories; the penalty chosen by
    5-fold ``LogisticRegressionCV`` on log-loss."""

    def fit(self, frame: pd.DataFrame, y) -> SplineLogistic:
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import MissingIndicator, SimpleImputer
        from sklearn.linear_model import LogisticRegressionCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder, SplineTransformer, StandardScaler

        raw = raw_columns(frame)
        num = [c for c in NUMERIC if raw[c].notna().any()]
        parts = []
        for c in num:
            x = raw[c].dropna().to_numpy(float)
            knots = np.unique(np.quantile(x, np.linspace(0, 1, 5)))
            imp = SimpleImputer(strategy="median")
            if len(np.unique(x)) > 10 and len(knots) >= 3:
                parts.append((f"s_{c}", make_pipeline(imp, SplineTransformer(degree=3, knots=knots.reshape(-1, 1),
                                                                             extrapolation="linear")), [c]))
            else:
                parts.append((f"l_{c}", imp, [c]))
        parts.append(("missing", MissingIndicator(features="all"), num))
        parts.append(("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing", keep_empty_features=True),
                                           OneHotEncoder(handle_unknown="ignore", sparse_output=False)), list(CATEGORICAL)))
        self.pipeline = make_pipeline(ColumnTransformer(parts), StandardScaler(),
                                      LogisticRegressionCV(Cs=12, cv=5, scoring="neg_log_loss", max_iter=5000))
        self.columns_ = num + list(CATEGORICAL)
        self.pipeline.fit(raw[self.columns_], np.asarray(y, bool))
        return self

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.pipeline.predict_proba(raw_columns(frame)[self.columns_])[:, 1]


class EBM:
    def __init__(self, seed: int = 0, n_jobs: int = 1):
        self.seed, self.n_jobs = seed, n_jobs

    def fit(self, frame: pd.DataFrame, y) -> EBM:
        from interpret.glassbox import ExplainableBoostingClassifier

        self.m = ExplainableBoostingClassifier(interactions="3x", outer_bags=8, max_bins=1024, n_jobs=self.n_jobs,
                                               random_state=self.seed)
        self.m.fit(raw_columns(frame), np.asarray(y, bool))
        return self

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.m.predict_proba(raw_columns(frame))[:, 1]


def fit_peer(name: str, frame: pd.DataFrame, y: np.ndarray, seed: int, ebm_jobs: int):
    from watchwait import peers

    if name == "logistic":
        return peers.logistic().fit(frame, y).predict
    if name == "hgb":
        return peers.hgb(seed).fit(frame, y).predict
    if name == "spline":
        return SplineLogistic().fit(frame, y).predict
    if name == "ebm":
        return EBM(seed, ebm_jobs).fit(frame, y).predict
    raise ValueError(name)


def ebm_available() -> bool:
    try:
        import interpret.glassbox  # noqa: F401
    except ImportError:
        return False
    return True


# ----------------------------------------------------------------------------- scoring

def score(predict, test: pd.DataFrame, y: np.ndarray, oracle: np.ndarray, auc_oracle: float, samples: pd.DataFrame,
          predictor=None) -> dict:
    p = predict(test)
    m = classification_metrics(y, p)
    out = {"auc": round(float(m["auc"]), 5), "auc_ratio": round(float(m["auc"] / auc_oracle), 5),
           "gap": round(float(np.mean(np.abs(p - oracle))), 5), "slope": round(float(m["calibration_slope"]), 4),
           "coverage": None, "median_width": None}
    if predictor is not None:
        cols = columns_of(test)
        lo, hi = predictor.interval(predictor.matrix(cols), groups=missing_groups(cols))
        out["coverage"] = round(float(np.mean((oracle >= lo - 1e-12) & (oracle <= hi + 1e-12))), 4)
        out["median_width"] = round(float(np.median(hi - lo)), 4)
    out["wrong_way"], out["wrong_way_pairs"], out["wrong_way_where"] = wrong_way(predict, samples)
    return out


def predictor_fn(P):
    return lambda fr: P.predict_proba(P.matrix(columns_of(fr)))


# ----------------------------------------------------------------------------- results file

def load_results(path: Path) -> dict:
    if path.exists():
        return json.loads(path.read_text())
    return {"meta": {}, "rows": []}


def put_row(res: dict, row: dict) -> None:
    key = (row["generator"], row["n"], row["seed"], row["model"])
    res["rows"] = [r for r in res["rows"] if (r["generator"], r["n"], r["seed"], r["model"]) != key] + [row]


def save(res: dict, path: Path, mine: list[dict]) -> dict:
    """Merge this process's rows (``mine``) and meta into the file as it is on disk now (another invocation may be
    writing its own rows to it), under a lock; rewrite the markdown report beside it."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(Path(tempfile.gettempdir()) / f"{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        disk = load_results(path)
        for row in mine:
            put_row(disk, row)
        dm, m = disk.setdefault("meta", {}), res["meta"]
        for k in ("commands", "notes"):
            dm[k] = list(dict.fromkeys(dm.get(k, []) + m.get(k, [])))
        dm["command"] = " ; ".join(dm["commands"])
        dm.setdefault("test", {}).update(m.get("test", {}))
        for k in ("date", "machine", "shipped_model", "code"):
            if m.get(k):
                dm[k] = m[k]
        disk["rows"].sort(key=lambda r: (r["generator"], r["n"], r["model"], r["seed"]))
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(disk, indent=1) + "\n")
        tmp.replace(path)
        path.with_suffix(".md").write_text(report(disk) + "\n")
    return disk


def _agg(rows: list[dict]) -> dict:
    out = {"seeds": len(rows)}
    for k in ("auc_ratio", "gap", "slope", "coverage", "median_width"):
        v = [r[k] for r in rows if r.get(k) is not None]
        out[k] = float(np.mean(v)) if v else None
        out[k + "_sd"] = float(np.std(v, ddof=1)) if len(v) > 1 else None
    out["wrong_way"] = sum(r["wrong_way"] for r in rows)
    out["wrong_way_pairs"] = sum(r["wrong_way_pairs"] for r in rows)
    return out


def table(res: dict, gen: str) -> tuple[str, dict]:
    rows = [r for r in res["rows"] if r["generator"] == gen]
    agg: dict = {}
    for n in sorted({r["n"] for r in rows}):
        for m in ("train", "update", "shipped", *PEERS):
            rs = [r for r in rows if r["n"] == n and r["model"] == m]
            if rs:
                agg[(n, m)] = _agg(rs) | {"extra": "; ".join(sorted({r.get("extra", "") for r in rs} - {""}))}
    meta = res.get("meta", {}).get("test", {}).get(gen, {})
    lines = [f"### {gen}: {SCENARIO[gen]}", "",
             f"{meta.get('n', '?')} fresh test patients (seed {meta.get('seed', '?')}), oracle AUC {meta.get('auc_oracle', float('nan')):.4f}, "
             f"prevalence {meta.get('prevalence', float('nan')):.3f}. Figures are the mean over the seeds column; gap ± sd when seeds > 1.", "",
             "| n | model | seeds | AUC / oracle | mean abs(p - truth) | calibration slope | interval coverage (median width) "
             "| wrong-way moves | notes |", "|---|---|---|---|---|---|---|---|---|"]
    for (n, m), a in agg.items():
        gap = f"{a['gap']:.4f}" + (f" ± {a['gap_sd']:.4f}" if a["gap_sd"] is not None else "")
        cov = "" if a["coverage"] is None else f"{a['coverage']:.1%} ({a['median_width']:.3f})"
        lines.append(f"| {n:,} | {LABEL[m]} | {a['seeds']} | {a['auc_ratio']:.4f} | {gap} | {a['slope']:.3f} | {cov} "
                     f"| {a['wrong_way']} of {a['wrong_way_pairs']} | {a['extra']} |")
    return "\n".join(lines), agg


def _by_seed(rows: list[dict], gen: str, n: int, model: str) -> dict[int, dict]:
    return {r["seed"]: r for r in rows if r["generator"] == gen and r["n"] == n and r["model"] == model}


def _paired(a: dict[int, dict], b: dict[int, dict], key: str = "gap") -> tuple[float, float, list[int]] | None:
    """Means of ``key`` over the seeds both have (a comparison is always on the same training patients)."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    return float(np.mean([a[s][key] for s in seeds])), float(np.mean([b[s][key] for s in seeds])), seeds


def targets(res: dict) -> list[str]:
    """PASS/FAIL per target. Every comparison is paired: on the seeds (training subsets) both models were run on."""
    rows, out = res["rows"], []
    gens = [g for g in ("simulate", "alt") if any(r["generator"] == g for r in rows)]
    for gen in gens:
        for n in sorted({r["n"] for r in rows if r["generator"] == gen}):
            tr = _by_seed(rows, gen, n, "train")
            if not tr:
                continue
            worst = None
            for m in PEERS:
                pr = _paired(tr, _by_seed(rows, gen, n, m))
                if pr is not None and (worst is None or pr[0] - pr[1] > worst[1][0] - worst[1][1]):
                    worst = (m, pr)
            if worst is not None:
                m, (g_tr, g_p, seeds) = worst
                d = g_tr - g_p
                run = [m for m in PEERS if _by_seed(rows, gen, n, m)]
                out.append(f"{'PASS' if d <= GAP_TOL else 'FAIL'} {gen} n={n:,}: train gap {g_tr:.4f} vs best peer ({m}) "
                           f"{g_p:.4f}: {d:+.4f} (target <= +{GAP_TOL}; seeds {seeds}; peers run: {', '.join(run)})")
            sl = [tr[s]["slope"] for s in sorted(tr)]
            ok = SLOPE_RANGE[0] <= float(np.mean(sl)) <= SLOPE_RANGE[1]
            out.append(f"{'PASS' if ok else 'FAIL'} {gen} n={n:,}: train calibration slope {np.mean(sl):.3f} (per seed "
                       f"{', '.join(f'{v:.2f}' for v in sl)}; target {SLOPE_RANGE[0]}-{SLOPE_RANGE[1]})")
    for n in sorted({r["n"] for r in rows if r["generator"] == "alt"}):
        if n > SHIFT_MAX:
            continue
        u, tr, sh = (_by_seed(rows, "alt", n, m) for m in ("update", "train", "shipped"))
        pr = _paired(u, tr)
        if pr is None or not sh:
            out.append(f"NOT RUN shift n={n:,}: update / train / shipped rows missing")
            continue
        g_u, g_tr, seeds = pr
        g_sh = next(iter(sh.values()))["gap"]
        ok = g_u < g_tr and g_u < g_sh
        out.append(f"{'PASS' if ok else 'FAIL'} shift n={n:,}: update gap {g_u:.4f} vs train {g_tr:.4f} and shipped {g_sh:.4f} "
                   f"(target: update lowest; seeds {seeds}; levels chosen: "
                   f"{', '.join(str(u[s]['extra'].split(':')[0].replace('chose ', '')) for s in seeds)})")
    for gen in gens:
        for m in ("train", "update", "shipped"):
            rs = [r for r in rows if r["generator"] == gen and r["model"] == m]
            w, p = sum(r["wrong_way"] for r in rs), sum(r["wrong_way_pairs"] for r in rs)
            where = sorted({f"n={r['n']} seed {r['seed']}: {x}" for r in rs for x in r.get("wrong_way_where", [])})
            if p:
                out.append(f"{'PASS' if w == 0 else 'FAIL'} {gen}: {m} wrong-way moves on the sample patients {w} of {p} "
                           f"(every size and seed; target 0)" + (f": {'; '.join(where)}" if where else ""))
    return out


def report(res: dict) -> str:
    meta = res.get("meta", {})
    parts = [f"# Learning curve (issue 16): {meta.get('date', '')}, code {meta.get('code', '?')}, shipped model "
             f"{meta.get('shipped_model', '-')}", "", f"`{meta.get('command', '')}`", "", meta.get("machine", ""), ""]
    aggs = {}
    for gen in ("simulate", "alt"):
        if any(r["generator"] == gen for r in res["rows"]):
            t, aggs[gen] = table(res, gen)
            parts += [t, ""]
    parts += ["### Targets", ""] + [f"- {t}" for t in targets(res)]
    if meta.get("notes"):
        parts += ["", "### Notes", ""] + [f"- {x}" for x in meta["notes"]]
    return "\n".join(parts)


def readme_table(res: dict) -> str:
    """The compact table the README quotes: per size and site, means over the seeds each model was run on."""
    rows = res["rows"]
    lines = ["| n | site (test) | seeds | `train`: AUC / oracle's, gap, slope, coverage | best peer: gap | `update` of the shipped "
             "model: gap, slope (level chosen) | shipped as it is: gap, slope |", "|---|---|---|---|---|---|---|"]

    def mean(gen, n, m, k):
        v = [r[k] for r in rows if r["generator"] == gen and r["n"] == n and r["model"] == m and r.get(k) is not None]
        return float(np.mean(v)) if v else None

    for n in sorted({r["n"] for r in rows}):
        for gen, site in (("simulate", "`simulate`"), ("alt", "`simulate_alt` (shift)")):
            tr = [r for r in rows if r["generator"] == gen and r["n"] == n and r["model"] == "train"]
            if not tr:
                continue
            peers = {m: mean(gen, n, m, "gap") for m in PEERS if mean(gen, n, m, "gap") is not None}
            best = min(peers, key=peers.get) if peers else None
            ups = [r for r in rows if r["generator"] == gen and r["n"] == n and r["model"] == "update"]
            levels = "/".join(str(r["extra"].split(":")[0].replace("chose level ", "")) for r in sorted(ups, key=lambda r: r["seed"]))
            upd = (f"{mean(gen, n, 'update', 'gap'):.4f}, {mean(gen, n, 'update', 'slope'):.2f} ({levels})" if ups else "not run")
            sh = mean(gen, n, "shipped", "gap")
            lines.append(f"| {n:,} | {site} | {len(tr)} | {mean(gen, n, 'train', 'auc_ratio'):.3f}, **{mean(gen, n, 'train', 'gap'):.4f}**, "
                         f"{mean(gen, n, 'train', 'slope'):.2f}, {mean(gen, n, 'train', 'coverage'):.0%} | "
                         + (f"{peers[best]:.4f} ({best})" if best else "-") + f" | {upd} | "
                         + (f"{sh:.4f}, {mean(gen, n, 'shipped', 'slope'):.2f}" if sh is not None else "-") + " |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- run

def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--generators", default="simulate,alt")
    ap.add_argument("--seeds", type=int, default=1, help="seeds (training subsets and fits) per size up to --seeds-max")
    ap.add_argument("--seeds-max", type=int, default=1200)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1 (another invocation "
                    "can add seeds to the same results file)")
    ap.add_argument("--models", default="train,update,shipped,peers")
    ap.add_argument("--no-ebm", action="store_true")
    ap.add_argument("--ebm-max", type=int, default=10**9, help="largest n the EBM peer is fitted at")
    ap.add_argument("--ebm-jobs", type=int, default=1)
    ap.add_argument("--update-max", type=int, default=10**9, help="largest n update is run at")
    ap.add_argument("--test-n", type=int, default=5000)
    ap.add_argument("--pool-n", type=int, default=max(SIZES))
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "watchwait_learning_curve"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "learning_curve.json"))
    ap.add_argument("--shipped", default=None, help="model folder for the shipped rows and update (default: load_model())")
    ap.add_argument("--readme", action="store_true", help="print the README's compact table from --out, run nothing")
    ap.add_argument("--report", action="store_true", help="print the tables and targets from --out, run nothing")
    args = ap.parse_args(argv)
    out = Path(args.out)
    res = load_results(out)
    if args.readme:
        print(readme_table(res))
        return
    if args.report:
        text = report(res)
        if out.exists():
            out.with_suffix(".md").write_text(text + "\n")
        print(text)
        return

    from threadpoolctl import threadpool_limits

    from watchwait.training import train
    from watchwait.updating import update

    models = set(args.models.split(","))
    gens = args.generators.split(",")
    cache = Path(args.cache)
    meta = res.setdefault("meta", {})
    meta["date"] = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    meta.setdefault("commands", [])
    cmd = "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_learning_curve.py " + " ".join(sys.argv[1:] if argv is None else argv)
    meta["commands"] = [cmd]
    meta["machine"] = (f"{platform.machine()}, {os.cpu_count()} cores shared with other jobs, Python {platform.python_version()}, "
                       "one BLAS/OpenMP thread")
    import subprocess

    git = lambda *a: subprocess.run(["git", "-C", str(ROOT), *a], capture_output=True, text=True).stdout.strip()  # noqa: E731
    dirty = [ln for ln in git("status", "--porcelain", "--", "watchwait").splitlines() if ln]
    meta["code"] = git("rev-parse", "--short", "HEAD") + (" with uncommitted changes to watchwait/" if dirty else "")
    notes = meta.setdefault("notes", [])
    samples = read_cohort(ROOT / "sample_data" / "sample_patients.csv")
    use_ebm = "peers" in models and not args.no_ebm and ebm_available()
    if "peers" in models and not args.no_ebm and not use_ebm:
        msg = "EBM not run: interpret is not importable (pip install interpret-core, the [bench] extra)"
        print(msg)
        if msg not in notes:
            notes.append(msg)

    shipped = None
    if models & {"update", "shipped"}:
        from watchwait.artifacts import load_model

        try:
            shipped = load_model(args.shipped) if args.shipped else load_model()
            meta["shipped_model"] = shipped.version
            print(f"shipped model {shipped.version}", flush=True)
        except ModelArtifactError as exc:  # a model this watchwait cannot load: the other rows run without it
            print(f"shipped model not loadable, its rows and update skipped: {type(exc).__name__}: {str(exc)[:200]}", flush=True)

    with threadpool_limits(limits=1):
        tests, pools = {}, {}
        for gen in gens:
            test, ttruth = _cohort(gen, args.test_n, TEST_SEED[gen], cache)
            y = outcome(test)
            o = ttruth["p_oracle"].to_numpy(float)
            auc_o = classification_metrics(y, o)["auc"]
            tests[gen] = (test, y, o, auc_o)
            meta.setdefault("test", {})[gen] = {"n": len(test), "seed": TEST_SEED[gen], "auc_oracle": round(float(auc_o), 5),
                                                "prevalence": round(float(y.mean()), 4)}
            pools[gen] = _cohort(gen, args.pool_n, POOL_SEED[gen], cache)
        mine: list[dict] = []
        save(res, out, mine)

        def record(gen, n, seed, model, t0, fn, predictor=None, extra=""):
            test, y, o, auc_o = tests[gen]
            row = {"generator": gen, "n": n, "seed": seed, "model": model, "fit_s": round(time.perf_counter() - t0, 1),
                   **score(fn, test, y, o, auc_o, samples, predictor), "extra": extra, "code": meta["code"]}
            mine.append(row)
            save(res, out, mine)
            print(f"{gen:8s} n={n:6d} seed={seed} {model:9s} auc/oracle {row['auc_ratio']:.4f} gap {row['gap']:.4f} "
                  f"slope {row['slope']:.3f} cov {row['coverage']} wrong {row['wrong_way']}/{row['wrong_way_pairs']} "
                  f"({row['fit_s']:.0f} s) {extra}", flush=True)

        if shipped is not None and "shipped" in models and args.first_seed == 0:
            for gen in gens:
                t0 = time.perf_counter()
                for n in args.sizes:  # the same model at every n: one score, repeated per size for the tables
                    record(gen, n, 0, "shipped", t0, predictor_fn(shipped.predictor), shipped.predictor,
                           extra=f"version {shipped.version}")

        for n in args.sizes:
            for seed in range(args.first_seed, args.first_seed + (args.seeds if n <= args.seeds_max else 1)):
                for gen in gens:
                    frame, truth = training_cohort(pools[gen], n, seed)
                    y = outcome(frame)
                    if "train" in models:
                        t0 = time.perf_counter()
                        try:
                            b = train(frame, seed=seed, truth=truth, n_members=8,
                                      data_description={"synthetic": True, "generator": gen})
                            P = b.predictor
                            tn = getattr(P, "tuning_", None) or {}
                            extra = f"alpha {tn.get('alpha')}, {tn.get('trees')} trees" + (
                                ", recalibrated" if P.update_ is not None else "")
                            record(gen, n, seed, "train", t0, predictor_fn(P), P, extra)
                        except WatchwaitError:  # a cohort train refuses (too few per class): reported, the run goes on
                            traceback.print_exc()
                            notes.append(f"train failed at {gen} n={n} seed {seed}: {traceback.format_exc(limit=1).strip()[-300:]}")
                    if shipped is not None and "update" in models and n <= args.update_max:
                        t0 = time.perf_counter()
                        try:
                            u = update(shipped, frame, seed=seed)
                            info = u.card["update"]
                            extra = f"chose level {info.get('level')}: {info.get('method')} (base {shipped.version})"
                            record(gen, n, seed, "update", t0, predictor_fn(u.predictor), u.predictor, extra)
                        except WatchwaitError:  # a cohort update refuses: reported, the run goes on
                            traceback.print_exc()
                            notes.append(f"update failed at {gen} n={n} seed {seed}: {traceback.format_exc(limit=1).strip()[-300:]}")
                    if "peers" in models:
                        for name in PEERS:
                            if name == "ebm" and (not use_ebm or n > args.ebm_max):
                                continue
                            t0 = time.perf_counter()
                            try:
                                record(gen, n, seed, name, t0, fit_peer(name, frame, y, seed, args.ebm_jobs))
                            except ValueError:  # scikit-learn / interpret refusing a tiny cohort: reported, the run goes on
                                traceback.print_exc()
                                notes.append(f"{name} failed at {gen} n={n} seed {seed}")
        disk = save(res, out, mine)
    print()
    print(report(disk))


if __name__ == "__main__":
    main()
