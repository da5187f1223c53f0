"""The Bicep in infra/, read with pycep-parser (the Bicep CLI cannot be installed here): every
file parses, and the optional Synapse workspace, pool, firewall, roles and app settings are
wired as docs/synapse.md says.

pycep turns a file into JSON: a reference is its expression as a string ("synapseEnabled"),
a property access an operator tree (see `accessor`). It reads `!a ? b : c` as `!(a ? b : c)`;
nothing here depends on such an expression's shape.
"""

from __future__ import annotations

import json
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pycep import BicepParser

from shared.settings import Settings
from shoplake.synapse_deploy import DEFAULT_PIPELINE
from tests.support.paths import ROOT

INFRA = ROOT / "infra"
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
SYNAPSE_OUTPUTS = ["SYNAPSE_WORKSPACE_NAME", "SYNAPSE_ENDPOINT", "SYNAPSE_PIPELINE",
                   "SYNAPSE_SPARK_POOL", "SYNAPSE_JOB_FOLDER"]


@cache
def bicep(path: str) -> dict[str, Any]:
    return BicepParser().parse(file_path=INFRA / path)


def accessor(*names: str) -> dict[str, Any]:
    """pycep's tree for `a.b.c`."""
    tree: Any = names[-1]
    for name in reversed(names[:-1]):
        tree = {"operator": {"type": "property_accessor",
                             "operands": {"operand_1": name, "operand_2": tree}}}
    return tree


def conditional(condition: Any, true_value: Any, false_value: Any) -> dict[str, Any]:
    return {"operator": {"type": "conditional", "operands": {
        "condition": condition, "true_value": true_value, "false_value": false_value}}}


def resources(path: str, kind: str) -> dict[str, dict[str, Any]]:
    return {name: resource for name, resource in bicep(path)["resources"].items()
            if resource["type"] == kind}


@pytest.mark.parametrize("path", sorted(str(p.relative_to(INFRA)) for p in INFRA.rglob("*.bicep")))
def test_every_bicep_file_parses(path: str) -> None:
    assert bicep(path)["globals"] is not None


# -- main.bicep: optional, off by default -----------------------------------------------


def test_synapse_is_an_optional_module_off_by_default() -> None:
    main = bicep("main.bicep")
    module = main["modules"]["synapse"]
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]

    assert (main["parameters"]["synapseEnabled"]["type"],
            main["parameters"]["synapseEnabled"]["default"]) == ("bool", False)
    assert parameters["synapseEnabled"] == {"value": "${SYNAPSE_ENABLED=false}"}
    assert module["detail"]["path"] == "app/synapse.bicep"
    assert module["config"]["condition"] == "synapseEnabled"
    params = module["config"]["config"]["params"]
    assert params["lakeStorageAccountName"] == accessor("lake", "outputs", "name")
    assert params["appPrincipalId"] == accessor("identity", "outputs", "principalId")
    assert params["userPrincipalId"] == "principalId"
    assert params["sparkPoolName"] == "synapseSparkPoolName"
    # Named like the resource group, from abbreviations.json's prefix.
    assert params["managedResourceGroupName"] == (
        "${abbrs.resourcesResourceGroups}${environmentName}-synapse-managed")


def test_the_app_settings_turn_synapse_on_only_with_the_module() -> None:
    api = bicep("main.bicep")["modules"]["api"]["config"]["params"]

    assert api["refreshRunner"] == conditional("synapseEnabled", "synapse", "local")
    assert api["synapseEndpoint"] == conditional(
        "synapseEnabled", accessor("synapse", "outputs", "devEndpoint"), "")
    assert api["synapsePipeline"] == conditional("synapseEnabled", "synapsePipelineName", "")
    assert api["synapseJobFolder"] == conditional(
        "synapseEnabled", accessor("synapse", "outputs", "jobFolder"), "")
    assert bicep("main.bicep")["variables"]["synapsePipelineName"]["value"] == DEFAULT_PIPELINE


def test_the_outputs_azd_keeps_are_settings_names() -> None:
    outputs = bicep("main.bicep")["outputs"]
    aliases = {field.validation_alias for field in Settings.model_fields.values()}

    assert {*SYNAPSE_OUTPUTS, "REFRESH_RUNNER", "AZURE_FUNCTION_IDENTITY_PRINCIPAL_ID"} <= set(
        outputs)
    # `eval "$(azd env get-values)"` hands them to `shoplake synapse deploy`.
    assert {*SYNAPSE_OUTPUTS[1:], "REFRESH_RUNNER"} <= aliases
    for name in SYNAPSE_OUTPUTS:  # empty with Synapse off
        assert outputs[name]["value"]["operator"]["operands"]["false_value"] == "", name


def test_the_function_app_gets_the_synapse_settings() -> None:
    api = bicep("app/api.bicep")
    settings = api["variables"]["synapseSettings"]["value"]["operator"]["operands"]
    aliases = {field.validation_alias for field in Settings.model_fields.values()}

    assert api["variables"]["shoplakeSettings"]["value"]["REFRESH_RUNNER"] == "refreshRunner"
    assert api["parameters"]["refreshRunner"]["default"] == "local"
    assert settings["true_value"] == {}  # no endpoint: no SYNAPSE_* settings at all
    assert settings["false_value"] == {"SYNAPSE_ENDPOINT": "synapseEndpoint",
                                       "SYNAPSE_PIPELINE": "synapsePipeline",
                                       "SYNAPSE_JOB_FOLDER": "synapseJobFolder"}
    assert set(settings["false_value"]) <= aliases
    union = api["modules"]["functionApp"]["config"]["params"]["appSettings"]["function"]
    assert union["type"] == "union"
    assert "synapseSettings" in union["parameters"].values()


# -- app/synapse.bicep: workspace, pool, firewall, roles --------------------------------


def test_the_workspace_has_its_identity_and_an_hns_data_lake() -> None:
    synapse = bicep("app/synapse.bicep")
    [workspace] = resources("app/synapse.bicep", "Microsoft.Synapse/workspaces").values()
    storage = synapse["modules"]["storage"]
    properties = workspace["config"]["properties"]

    assert workspace["config"]["identity"] == {"type": "SystemAssigned"}
    assert properties["defaultDataLakeStorage"]["accountUrl"] == (
        "https://${storageAccountName}.dfs.${environment().suffixes.storage}")
    assert properties["defaultDataLakeStorage"]["filesystem"] == "fileSystemName"
    assert properties["managedResourceGroupName"] == "managedResourceGroupName"
    assert properties["azureADOnlyAuthentication"] is True
    assert storage["detail"]["path"] == "../core/storage/storage-account.bicep"
    assert storage["config"]["params"]["isHnsEnabled"] is True
    assert storage["config"]["params"]["containerNames"] == ["fileSystemName"]


def test_the_spark_pool_is_spark_3_5_small_autoscaled_and_paused_when_idle() -> None:
    [pool] = resources("app/synapse.bicep", "Microsoft.Synapse/workspaces/bigDataPools").values()
    properties = pool["config"]["properties"]
    requirements = properties["libraryRequirements"]["content"]["function"]

    assert pool["config"]["parent"] == "workspace"
    assert (properties["sparkVersion"], properties["nodeSize"]) == ("3.5", "Small")
    assert properties["autoPause"] == {"enabled": True,
                                       "delayInMinutes": "sparkAutoPauseDelayInMinutes"}
    assert properties["autoScale"] == {"enabled": True, "minNodeCount": "sparkMinNodeCount",
                                       "maxNodeCount": "sparkMaxNodeCount"}
    assert requirements["type"] == "load_text_content"
    path = (INFRA / "app" / requirements["parameters"]["file_path"]).resolve()
    assert path == INFRA / "synapse" / "requirements.txt"


def test_the_firewall_lets_azure_services_in() -> None:
    rules = resources("app/synapse.bicep", "Microsoft.Synapse/workspaces/firewallRules")
    azure = rules["allowAzureServices"]["config"]

    assert azure["name"] == "AllowAllWindowsAzureIps"
    assert azure["properties"] == {"startIpAddress": "0.0.0.0", "endIpAddress": "0.0.0.0"}
    assert rules["allowClient"]["config"]["condition"]["operator"]["type"] == "not"


def test_the_roles_reach_the_lake_and_the_workspace_storage() -> None:
    synapse = bicep("app/synapse.bicep")
    assignments = resources("app/synapse.bicep", "Microsoft.Authorization/roleAssignments")
    existing = {name: resource["config"]["name"] for name, resource
                in synapse["resources"].items() if resource["existing"]}
    workspace_identity = accessor("workspace", "identity", "principalId")

    def grants(config: dict[str, Any]) -> tuple[str, Any, str]:
        config = config.get("config", config)  # a conditional resource nests its body
        role = config["properties"]["roleDefinitionId"]["function"]["parameters"]
        return config["scope"], config["properties"]["principalId"], role["resource_name_1"]

    found = [grants(assignment["config"]) for assignment in assignments.values()]
    assert sorted(found, key=str) == sorted([
        ("lakeStorage", workspace_identity, "storageBlobDataContributor"),
        ("workspaceStorage", workspace_identity, "storageBlobDataContributor"),
        ("workspaceStorage", "appPrincipalId", "storageBlobDataContributor"),
        ("workspaceStorage", "userPrincipalId", "storageBlobDataContributor"),
    ], key=str)
    assert synapse["variables"]["storageBlobDataContributor"]["value"] == (
        STORAGE_BLOB_DATA_CONTRIBUTOR)
    assert existing == {"workspaceStorage": "storageAccountName",
                        "lakeStorage": "lakeStorageAccountName"}


def test_the_module_outputs_the_dev_endpoint_and_the_job_folder() -> None:
    outputs = bicep("app/synapse.bicep")["outputs"]

    assert outputs["devEndpoint"]["value"] == accessor(
        "workspace", "properties", "connectivityEndpoints", "dev")
    assert outputs["jobFolder"]["value"] == (
        "abfss://${fileSystemName}@${storageAccountName}.dfs.${environment().suffixes.storage}"
        "/${jobFolderPath}")


# -- azure.yaml: the Synapse data-plane roles after provisioning ------------------------


def test_azd_runs_the_synapse_scripts_after_provisioning() -> None:
    hooks = yaml.safe_load((ROOT / "azure.yaml").read_text())["hooks"]
    script = ROOT / hooks["postprovision"]["run"]

    assert hooks["postprovision"]["shell"] == "sh"
    assert script == INFRA / "scripts" / "postprovision.sh"
    for name in ("postprovision.sh", "synapse-roles.sh", "synapse-sql.sh"):
        assert (INFRA / "scripts" / name).stat().st_mode & 0o111, name
    assert hooks["postdeploy"]["run"] == "./infra/scripts/subscribe-uploads.sh"


def test_the_serverless_views_read_the_lake_as_the_workspace_identity() -> None:
    """infra/synapse/sql/ reads the lake through a credential of the workspace's managed
    identity: the Bicep gives that identity a data role on the lake account (reading needs
    Storage Blob Data Reader; the Spark job's Contributor includes it)."""
    data_source = (INFRA / "synapse" / "sql" / "02-data-source.sql").read_text()
    configs = [resource["config"] for resource in resources(
        "app/synapse.bicep", "Microsoft.Authorization/roleAssignments").values()]
    [on_lake] = [config for config in (config.get("config", config) for config in configs)
                 if config["scope"] == "lakeStorage"]

    assert "WITH IDENTITY = 'Managed Identity'" in data_source
    assert on_lake["properties"]["principalId"] == accessor("workspace", "identity",
                                                           "principalId")
    role = on_lake["properties"]["roleDefinitionId"]["function"]["parameters"]
    assert role["resource_name_1"] == "storageBlobDataContributor"


def _run_script(tmp_path: Path, environment: dict[str, str], assigned: str = "0"
                ) -> tuple[int, str, list[str]]:
    """synapse-roles.sh with a stand-in `az` that logs its arguments and lists `assigned`
    matching role assignments."""
    log = tmp_path / "az.log"
    az = tmp_path / "bin" / "az"
    az.parent.mkdir(exist_ok=True)
    az.write_text('#!/bin/sh\necho "$*" >> "$AZ_LOG"\n'
                  'case "$*" in *"assignment list"*) echo "$AZ_ASSIGNED";; esac\n')
    az.chmod(0o755)
    done = subprocess.run(
        ["sh", str(INFRA / "scripts" / "synapse-roles.sh")], capture_output=True, text=True,
        timeout=30, check=False,
        env={"PATH": f"{az.parent}:/usr/bin:/bin", "AZ_LOG": str(log), "AZ_ASSIGNED": assigned,
             **environment})
    calls = log.read_text().splitlines() if log.exists() else []
    return done.returncode, done.stdout + done.stderr, calls


def test_the_role_script_is_a_no_op_with_synapse_off(tmp_path: Path) -> None:
    code, output, calls = _run_script(tmp_path, {"SYNAPSE_WORKSPACE_NAME": ""})

    assert (code, calls) == (0, [])
    assert "Synapse is off" in output


@pytest.mark.parametrize(("assigned", "created"), [("0", True), ("1", False)])
def test_the_role_script_assigns_each_role_once(tmp_path: Path, assigned: str,
                                                created: bool) -> None:
    code, output, calls = _run_script(
        tmp_path, {"SYNAPSE_WORKSPACE_NAME": "synwabc",
                   "AZURE_FUNCTION_IDENTITY_PRINCIPAL_ID": "0000-app"}, assigned)

    assert code == 0, output
    roles = ["Synapse Contributor", "Synapse Credential User"]
    lists = [f"synapse role assignment list --workspace-name synwabc --role {role} "
             f"--assignee-object-id 0000-app --query length(@) --output tsv" for role in roles]
    creates = [f"synapse role assignment create --workspace-name synwabc --role {role} "
               f"--assignee-object-id 0000-app --assignee-principal-type ServicePrincipal "
               f"--output none" for role in roles]
    expected = [call for pair in zip(lists, creates, strict=True)
                for call in (pair if created else pair[:1])]
    assert calls == expected


def _run_hook(tmp_path: Path, script: str, environment: dict[str, str], shoplake: bool = True
              ) -> tuple[int, str, list[str]]:
    """An infra/scripts hook, from the project root as azd runs it, with stand-ins for `az`
    and `shoplake` that log their arguments (`shoplake` only when `shoplake` is true)."""
    log = tmp_path / "calls.log"
    tools = tmp_path / "bin"
    tools.mkdir(exist_ok=True)
    for name in ("az", "shoplake") if shoplake else ("az",):
        tool = tools / name
        tool.write_text(f'#!/bin/sh\necho "{name} $*" >> "$CALLS_LOG"\n'
                        'case "$*" in *"assignment list"*) echo 0;; esac\n')
        tool.chmod(0o755)
    done = subprocess.run(
        ["sh", str(INFRA / "scripts" / script)], capture_output=True, text=True, timeout=30,
        check=False, cwd=tmp_path,  # no .venv there: the command comes from PATH
        env={"PATH": f"{tools}:/usr/bin:/bin", "CALLS_LOG": str(log), **environment})
    calls = log.read_text().splitlines() if log.exists() else []
    return done.returncode, done.stdout + done.stderr, calls


SYNAPSE_ON = {"SYNAPSE_WORKSPACE_NAME": "synwabc", "AZURE_ENV_NAME": "dev",
              "AZURE_FUNCTION_IDENTITY_PRINCIPAL_ID": "0000-app",
              "SYNAPSE_ENDPOINT": "https://synwabc.dev.azuresynapse.net",
              "LAKE_URL": "abfss://lake@stlake.dfs.core.windows.net/shoplake"}


def test_the_sql_script_creates_the_views_and_the_pbids_file(tmp_path: Path) -> None:
    code, output, calls = _run_hook(tmp_path, "synapse-sql.sh", SYNAPSE_ON)

    assert code == 0, output
    assert calls == ["shoplake synapse sql", "shoplake synapse pbids .azure/dev/shoplake.pbids"]


def test_the_sql_script_is_a_no_op_with_synapse_off(tmp_path: Path) -> None:
    code, output, calls = _run_hook(tmp_path, "synapse-sql.sh", {"SYNAPSE_WORKSPACE_NAME": ""})

    assert (code, calls) == (0, [])
    assert "Synapse is off" in output


def test_the_sql_script_says_how_to_install_shoplake(tmp_path: Path) -> None:
    code, output, calls = _run_hook(tmp_path, "synapse-sql.sh", SYNAPSE_ON, shoplake=False)

    assert (code, calls) == (1, [])
    assert "the shoplake command is not installed (make installs it in .venv)" in output


def test_the_postprovision_hook_assigns_the_roles_then_creates_the_views(
        tmp_path: Path) -> None:
    code, output, calls = _run_hook(tmp_path, "postprovision.sh", SYNAPSE_ON)

    assert code == 0, output
    assert [call.split()[0] for call in calls] == ["az"] * 4 + ["shoplake"] * 2
    assert calls[-2:] == ["shoplake synapse sql",
                          "shoplake synapse pbids .azure/dev/shoplake.pbids"]


def test_the_postprovision_hook_stops_when_a_step_fails(tmp_path: Path) -> None:
    code, _, calls = _run_hook(tmp_path, "postprovision.sh",
                               {**SYNAPSE_ON, "AZURE_FUNCTION_IDENTITY_PRINCIPAL_ID": ""})

    assert code != 0
    assert calls == []
