"""Run EMHASS's day-ahead optimisation on a ``load_power_forecast``: reads ``python -m device.emhass``'s JSON on stdin,
writes the plan EMHASS returns as JSON into the file named by the first argument (its solver prints on stdout).
Runs only under EMHASS's venv (``make emhass-venv``), called by the tests.

The configuration is EMHASS's own defaults (``data/config_defaults.json``, no Home Assistant: secrets are not asked
for); the runtime parameters are ours plus flat price lists and no PV, so nothing needs the network."""

from __future__ import annotations

import asyncio
import json
import pathlib
import sys
import tempfile

import emhass
from emhass import utils
from emhass.command_line import dayahead_forecast_optim, set_input_data_dict


async def plan(runtime: dict, data_path: pathlib.Path) -> list[dict]:
    root = pathlib.Path(emhass.__file__).parent
    conf = {
        "data_path": data_path,
        "root_path": root,
        "config_path": data_path / "config.json",
        "defaults_path": root / "data" / "config_defaults.json",
        "associations_path": root / "data" / "associations.csv",
    }
    logger, _ = utils.get_logger("wattcast.emhass", conf, save_to_file=False)
    config = await utils.build_config(conf, logger, conf["defaults_path"])
    _, secrets = await utils.build_secrets(conf, logger, no_response=True)
    params = await utils.build_params(conf, secrets, config, logger)
    params["retrieve_hass_conf"]["long_lived_token"] = ""  # no Home Assistant: EMHASS then uses its configuration only
    steps = len(runtime["load_power_forecast"])
    runtime = {
        **runtime,
        "pv_power_forecast": [0.0] * steps,
        "load_cost_forecast": [0.20] * steps,
        "prod_price_forecast": [0.05] * steps,
    }
    params["passed_data"] = runtime
    inputs = await set_input_data_dict(
        conf, "profit", json.dumps(params), json.dumps(runtime), "dayahead-optim", logger, get_data_from_file=False
    )
    if not inputs:
        raise SystemExit("EMHASS refused the input data (see its log above)")
    result = await dayahead_forecast_optim(inputs, logger, debug=True)
    result.index = result.index.astype(str)
    return json.loads(result.reset_index(names="timestamp").to_json(orient="records"))


def main() -> None:
    runtime = json.load(sys.stdin)
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(plan(runtime, pathlib.Path(tmp)))
    pathlib.Path(sys.argv[1]).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
