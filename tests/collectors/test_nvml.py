"""NvmlCollector against a fake pynvml (real constants, structs and errors) and against the real one."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from types import ModuleType

import pynvml
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cardwatch.collectors import CollectorUnavailable, load
from cardwatch.collectors.nvml import NvmlCollector
from cardwatch.collectors.nvml_card import decode_throttle
from cardwatch.model import CardSample, CardState, Throttle
from cardwatch.wire import dumps, sample_from_wire, sample_to_wire


def _load_fake() -> ModuleType:
    """The fake lives beside this file; pytest runs with --import-mode=importlib, so load it by path."""
    spec = importlib.util.spec_from_file_location("nvml_fake", Path(__file__).with_name("nvml_fake.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


nvml_fake = _load_fake()
FakeNvml = nvml_fake.FakeNvml
FIXTURES = nvml_fake.FIXTURES
error_class = nvml_fake.error_class
NODE = "gpu-node-01"
TS = 1795000000.0
GOLDEN = json.loads((FIXTURES / "h100x8.golden.json").read_text())


def make(fake: FakeNvml) -> NvmlCollector:
    return NvmlCollector(node=NODE, nvml=fake, clock=lambda: TS)


def wire(samples: list[CardSample]) -> list[dict]:
    return [sample_to_wire(s) for s in samples]


@pytest.fixture
def fake() -> FakeNvml:
    return FakeNvml()


def test_h100_node_matches_golden(fake: FakeNvml) -> None:
    """Eight H100 SXM cards read through the fake give the reviewed golden samples."""
    assert wire(make(fake).read()) == GOLDEN
    field_value_calls = [entry for entry in fake.log if entry[1] == "nvmlDeviceGetFieldValues"]
    assert [index for index, _, _ in field_value_calls] == list(range(8))


def test_units_are_converted_from_nvml(fake: FakeNvml) -> None:
    card = make(fake).read()[0]
    assert card.power_w == 612.345  # 612345 mW
    assert card.power_limit_w == card.power_default_limit_w == 700.0
    assert card.energy_j == 518273645.012  # mJ
    assert card.mem_total_mib == 81559.0  # 85520809984 bytes
    assert card.mem_used_mib == 65012023296 / 2**20
    assert (card.temp_c, card.mem_temp_c) == (41.0, 48.0)
    assert card.sm_clock_max_mhz == 1980.0
    assert card.state is CardState.OK and card.vendor == "nvidia" and card.source == "nvml"


def test_tlimit_margins_become_absolute_thresholds(fake: FakeNvml) -> None:
    """Fields 193-196 are margins on the T.Limit scale; the sample holds degrees Celsius."""
    card = make(fake).read()[7]
    assert card.temp_c == 61.0
    assert card.temp_shutdown_c == 92.0
    assert card.temp_slowdown_c == 89.0
    assert card.mem_temp_max_c == 95.0
    assert card.temp_max_operating_c == 87.0
    assert not fake.succeeded(7, "nvmlDeviceGetTemperatureThreshold:1")


@pytest.mark.parametrize("code", [pynvml.NVML_ERROR_INVALID_ARGUMENT, pynvml.NVML_ERROR_NOT_SUPPORTED])
def test_thresholds_fall_back_without_tlimit_fields(fake: FakeNvml, code: int) -> None:
    for field_id in (193, 194, 195, 196):
        fake.fail_field(0, field_id, code)
    card = make(fake).read()[0]
    assert (card.temp_shutdown_c, card.temp_slowdown_c) == (92.0, 89.0)
    assert (card.mem_temp_max_c, card.temp_max_operating_c) == (95.0, 87.0)
    assert fake.succeeded(0, "nvmlDeviceGetTemperatureThreshold:0")


def test_thresholds_fall_back_without_margin(fake: FakeNvml) -> None:
    fake.fail("nvmlDeviceGetMarginTemperature", pynvml.NVMLError_FunctionNotFound)
    card = make(fake).read()[0]
    assert card.temp_slowdown_c == 89.0
    assert fake.succeeded(0, "nvmlDeviceGetTemperatureThreshold:1")


def test_threshold_unknown_when_every_source_fails(fake: FakeNvml) -> None:
    fake.fail_field(0, 195, pynvml.NVML_ERROR_NOT_SUPPORTED)
    fake.fail("nvmlDeviceGetTemperatureThreshold:2", pynvml.NVMLError_NotSupported, index=0)
    card = make(fake).read()[0]
    assert card.mem_temp_max_c is None
    assert "not supported" in card.field_errors["mem_temp_max_c"]
    assert card.temp_slowdown_c == 89.0


def test_unsupported_fields_are_none_with_reason_and_card_stays_ok(fake: FakeNvml) -> None:
    fake.fail("nvmlDeviceGetPowerUsage", pynvml.NVMLError_NotSupported, index=1)
    fake.fail("nvmlDeviceGetUtilizationRates", pynvml.NVMLError_NoData, index=1)
    fake.fail_field(1, 82, pynvml.NVML_ERROR_NOT_READY)
    card = make(fake).read()[1]
    assert card.state is CardState.OK
    assert (card.power_w, card.util_pct, card.mem_temp_c, card.fan_pct) == (None, None, None, None)
    assert card.field_errors["power_w"] == "nvmlDeviceGetPowerUsage: not supported by this GPU"
    assert card.field_errors["util_pct"] == "nvmlDeviceGetUtilizationRates: no data yet"
    assert card.field_errors["mem_temp_c"] == "nvmlDeviceGetFieldValues(82): driver not ready"
    assert "not supported" in card.field_errors["fan_pct"]
    assert card.temp_c == 44.0 and card.energy_j == 511098347.221


def test_whole_field_values_call_failing_leaves_other_fields(fake: FakeNvml) -> None:
    fake.fail("nvmlDeviceGetFieldValues", pynvml.NVMLError_FunctionNotFound)
    card = make(fake).read()[0]
    assert card.energy_j is None and card.ecc_corrected_volatile is None and card.remap_pending is None
    assert card.field_errors["energy_j"] == "nvmlDeviceGetFieldValues: not in this driver version"
    assert card.temp_shutdown_c == 92.0  # from nvmlDeviceGetTemperatureThreshold
    assert card.power_w == 612.345


def test_temperature_falls_back_to_old_function(fake: FakeNvml) -> None:
    fake.fail("nvmlDeviceGetTemperatureV", pynvml.NVMLError_FunctionNotFound)
    card = make(fake).read()[2]
    assert card.temp_c == 47.0
    assert fake.succeeded(2, "nvmlDeviceGetTemperature:0")


def test_no_fallback_when_the_new_function_says_not_supported(fake: FakeNvml) -> None:
    fake.fail("nvmlDeviceGetTemperatureV", pynvml.NVMLError_NotSupported, index=2)
    card = make(fake).read()[2]
    assert card.temp_c is None
    assert card.field_errors["temp_c"] == "nvmlDeviceGetTemperatureV: not supported by this GPU"
    assert not fake.succeeded(2, "nvmlDeviceGetTemperature:0")


def test_throttle_reasons_fall_back_to_old_function(fake: FakeNvml) -> None:
    fake.fail("nvmlDeviceGetCurrentClocksEventReasons", pynvml.NVMLError_FunctionNotFound)
    card = make(fake).read()[2]
    assert card.throttle == frozenset({Throttle.SW_POWER_CAP})
    assert fake.succeeded(2, "nvmlDeviceGetCurrentClocksThrottleReasons")


def test_binding_without_the_new_function_falls_back(fake: FakeNvml, monkeypatch: pytest.MonkeyPatch) -> None:
    """An older nvidia-ml-py lacks the name altogether; that counts as FunctionNotFound."""
    monkeypatch.delattr(FakeNvml, "nvmlDeviceGetCurrentClocksEventReasons")
    assert make(fake).read()[7].throttle == frozenset({Throttle.HW_SLOWDOWN, Throttle.SW_THERMAL})


def test_throttle_unknown_when_both_functions_are_missing(fake: FakeNvml) -> None:
    fake.fail("nvmlDeviceGetCurrentClocksEventReasons", pynvml.NVMLError_FunctionNotFound)
    fake.fail("nvmlDeviceGetCurrentClocksThrottleReasons", pynvml.NVMLError_FunctionNotFound)
    card = make(fake).read()[0]
    assert card.throttle is None
    assert "not in this driver version" in card.field_errors["throttle"]


def test_throttle_mask_decoding() -> None:
    mask = 0x4 | 0x40 | 0x100 | 0x400 | (1 << 40)
    assert decode_throttle(mask, "test") == frozenset(
        {Throttle.SW_POWER_CAP, Throttle.HW_THERMAL, "nvml:display_clock", "nvml:reliability"}
    )
    assert decode_throttle(0, "test") == frozenset()


def test_gpu_lost_on_one_of_eight(fake: FakeNvml) -> None:
    fake.fail("nvmlDeviceGetPowerUsage", pynvml.NVMLError_GpuIsLost, index=6)
    samples = make(fake).read()
    lost = samples[6]
    assert lost.state is CardState.LOST
    assert lost.state_reason == "GPU is lost (fell off the bus)"
    assert lost.serial == "1654922042630" and lost.bus_id == "00000000:BA:00.0"
    assert lost.power_w is None and lost.temp_c is None and lost.energy_j is None
    assert wire(samples[:6] + samples[7:]) == GOLDEN[:6] + GOLDEN[7:]


def test_lost_handle_keeps_identity_from_earlier_reads(fake: FakeNvml) -> None:
    collector = make(fake)
    collector.read()
    fake.fail("nvmlDeviceGetHandleByIndex", pynvml.NVMLError_GpuIsLost, index=3)
    card = collector.read()[3]
    assert card.state is CardState.LOST
    assert card.uuid == "GPU-a8d3f1c6-2b9e-4d70-8c15-9e4b2a6d3f87"
    assert card.temp_c is None


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (pynvml.NVMLError_ResetRequired, "GPU requires a reset"),
        (pynvml.NVMLError_Unknown, "NVML reported an unknown error"),
    ],
)
def test_device_level_errors_mark_the_card_error(fake: FakeNvml, error: type, reason: str) -> None:
    fake.fail("nvmlDeviceGetMemoryInfo", error, index=4)
    samples = make(fake).read()
    assert (samples[4].state, samples[4].state_reason) == (CardState.ERROR, reason)
    assert [s.state for s in samples].count(CardState.OK) == 7


def test_lost_code_inside_field_values_marks_the_card_lost(fake: FakeNvml) -> None:
    fake.fail_field(5, 83, pynvml.NVML_ERROR_GPU_IS_LOST)
    assert make(fake).read()[5].state is CardState.LOST


def test_handle_permission_denied_marks_only_that_card(fake: FakeNvml) -> None:
    fake.fail("nvmlDeviceGetHandleByIndex", pynvml.NVMLError_NoPermission, index=0)
    samples = make(fake).read()
    assert samples[0].state is CardState.ERROR
    assert "nvmlDeviceGetHandleByIndex" in (samples[0].state_reason or "")
    assert wire(samples[1:]) == GOLDEN[1:]


def test_garbled_field_values_are_refused(fake: FakeNvml) -> None:
    fake.answer_field(0, 82, pynvml.NVML_SUCCESS, 42, 7)
    fake.answer_field(0, 94, pynvml.NVML_SUCCESS, pynvml.NVML_VALUE_TYPE_DOUBLE, float("nan"))
    fake.answer(0, "nvmlDeviceGetPowerUsage", "612345")
    card = make(fake).read()[0]
    assert card.mem_temp_c is None and "unknown value type 42" in card.field_errors["mem_temp_c"]
    assert card.pcie_replay_count is None
    assert (
        card.field_errors["pcie_replay_count"]
        == "nvmlDeviceGetFieldValues(94): NVML returned nan, not a count"
    )
    assert card.power_w is None and "not a number" in card.field_errors["power_w"]


def test_xid_events_are_drained_per_card(fake: FakeNvml) -> None:
    collector = make(fake)
    collector.read()
    for index, xid in [(3, 48), (6, 79), (3, 63)]:
        fake.queue_xid(index, xid)
    samples = collector.read()
    assert samples[3].xids == (48, 63)
    assert samples[6].xids == (79,)
    assert [s.xids for s in samples if s.index not in (3, 6)] == [()] * 6
    assert fake.events == []
    assert all(s.xids == () for s in collector.read())
    assert set(fake.wait_timeouts_ms) == {0}


def test_xid_on_a_lost_card_is_still_reported(fake: FakeNvml) -> None:
    collector = make(fake)
    collector.read()
    fake.queue_xid(2, 79)
    fake.fail("nvmlDeviceGetHandleByIndex", pynvml.NVMLError_GpuIsLost, index=2)
    card = collector.read()[2]
    assert (card.state, card.xids) == (CardState.LOST, (79,))


def test_xid_registration_not_supported_is_marked(fake: FakeNvml) -> None:
    fake.fail("nvmlDeviceRegisterEvents", pynvml.NVMLError_NotSupported, index=1)
    samples = make(fake).read()
    assert (
        samples[1].field_errors["xids"] == "Xid events: nvmlDeviceRegisterEvents: not supported by this GPU"
    )
    assert "xids" not in samples[0].field_errors


def test_xid_wait_failure_is_marked_on_every_card(fake: FakeNvml) -> None:
    fake.fail("nvmlEventSetWait", pynvml.NVMLError_Unknown)
    samples = make(fake).read()
    assert all(s.state is CardState.OK for s in samples)
    assert {s.field_errors["xids"] for s in samples} == {"Xid events: NVML reported an unknown error"}


def test_real_pynvml_without_driver_is_unavailable() -> None:
    """This machine has no libnvidia-ml.so.1: the real pynvml must give one clear sentence."""
    collector = load("nvml")(node=NODE)
    with pytest.raises(CollectorUnavailable) as caught:
        collector.read()
    message = str(caught.value)
    assert "libnvidia-ml.so.1 was not found" in message
    assert message.endswith(".") and message.count(". ") == 0
    collector.close()
    collector.close()


@pytest.mark.parametrize(
    ("error", "says"),
    [
        ("LibraryNotFound", "libnvidia-ml.so.1 was not found"),
        ("DriverNotLoaded", "kernel driver is not loaded"),
        ("LibRmVersionMismatch", "different driver versions"),
        ("NoPermission", "access to the GPUs was denied"),
        ("Unknown", "nvmlInit failed (Unknown Error)"),
    ],
)
def test_init_failures_are_one_sentence(fake: FakeNvml, error: str, says: str) -> None:
    fake.fail("nvmlInit", error_class(error))
    with pytest.raises(CollectorUnavailable, match=r"^NVML is not available: ") as caught:
        make(fake).read()
    assert says in str(caught.value)


def test_count_failure_is_unavailable_and_the_next_read_starts_afresh(fake: FakeNvml) -> None:
    collector = make(fake)
    fake.fail("nvmlDeviceGetCount", pynvml.NVMLError_DriverNotLoaded)
    with pytest.raises(CollectorUnavailable, match="kernel driver is not loaded"):
        collector.read()
    assert (fake.init_count, fake.event_sets_freed) == (0, 1)
    fake.failures.clear()
    assert wire(collector.read()) == GOLDEN
    assert fake.init_count == 1


def test_close_frees_events_and_shuts_down_once(fake: FakeNvml) -> None:
    collector = make(fake)
    collector.read()
    assert fake.init_count == 1
    collector.close()
    collector.close()
    assert (fake.init_count, fake.event_sets_freed) == (0, 1)
    assert wire(collector.read()) == GOLDEN
    collector.close()


def test_probe_looks_for_the_driver_under_root(tmp_path: Path) -> None:
    assert not NvmlCollector.probe(tmp_path)
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "nvidiactl").touch()
    assert NvmlCollector.probe(tmp_path)


def test_importing_the_collector_does_not_import_pynvml() -> None:
    code = "import sys, cardwatch.collectors.nvml; print('pynvml' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


FIELD_SOURCES: dict[str, set[str]] = {
    "model": {"nvmlDeviceGetName"},
    "uuid": {"nvmlDeviceGetUUID"},
    "serial": {"nvmlDeviceGetSerial"},
    "bus_id": {"nvmlDeviceGetPciInfo"},
    "temp_c": {"nvmlDeviceGetTemperatureV:0", "nvmlDeviceGetTemperature:0"},
    "power_w": {"nvmlDeviceGetPowerUsage"},
    "power_limit_w": {"nvmlDeviceGetEnforcedPowerLimit"},
    "power_default_limit_w": {"nvmlDeviceGetPowerManagementDefaultLimit"},
    "sm_clock_mhz": {"nvmlDeviceGetClockInfo:1"},
    "sm_clock_max_mhz": {"nvmlDeviceGetMaxClockInfo:1"},
    "mem_clock_mhz": {"nvmlDeviceGetClockInfo:2"},
    "mem_clock_max_mhz": {"nvmlDeviceGetMaxClockInfo:2"},
    "fan_pct": {"nvmlDeviceGetFanSpeed"},
    "pcie_gen": {"nvmlDeviceGetCurrPcieLinkGeneration"},
    "pcie_gen_max": {"nvmlDeviceGetMaxPcieLinkGeneration"},
    "pcie_width": {"nvmlDeviceGetCurrPcieLinkWidth"},
    "pcie_width_max": {"nvmlDeviceGetMaxPcieLinkWidth"},
    "util_pct": {"nvmlDeviceGetUtilizationRates"},
    "mem_used_mib": {"nvmlDeviceGetMemoryInfo"},
    "mem_total_mib": {"nvmlDeviceGetMemoryInfo"},
    "throttle": {"nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons"},
    "mem_temp_c": {"field:82"},
    "energy_j": {"field:83"},
    "ecc_corrected_volatile": {"field:3"},
    "ecc_uncorrected_volatile": {"field:4"},
    "ecc_corrected_aggregate": {"field:5"},
    "ecc_uncorrected_aggregate": {"field:6"},
    "retired_pages_sbe": {"field:29"},
    "retired_pages_dbe": {"field:30"},
    "retired_pages_pending": {"field:31"},
    "pcie_replay_count": {"field:94"},
    "remapped_rows_corrected": {"field:142"},
    "remapped_rows_uncorrected": {"field:143"},
    "remap_pending": {"field:144"},
    "remap_failure": {"field:145"},
    "temp_shutdown_c": {"field:193", "nvmlDeviceGetTemperatureThreshold:0"},
    "temp_slowdown_c": {"field:194", "nvmlDeviceGetTemperatureThreshold:1"},
    "mem_temp_max_c": {"field:195", "nvmlDeviceGetTemperatureThreshold:2"},
    "temp_max_operating_c": {"field:196", "nvmlDeviceGetTemperatureThreshold:3"},
}
"""Sample field -> the fake's call labels that can supply it (written from NVML's docs, not the code)."""

LABELS = sorted(
    {label for labels in FIELD_SOURCES.values() for label in labels if not label.startswith("field:")}
    | {"nvmlDeviceGetFieldValues", "nvmlDeviceGetMarginTemperature"}
)
FIELD_IDS = sorted(
    int(label[6:]) for labels in FIELD_SOURCES.values() for label in labels if "field:" in label
)
ERRORS = [getattr(pynvml, name) for name in dir(pynvml) if name.startswith("NVMLError_")]
DOWN_CODES = {
    pynvml.NVML_ERROR_GPU_IS_LOST,
    pynvml.NVML_ERROR_RESET_REQUIRED,
    pynvml.NVML_ERROR_UNKNOWN,
    pynvml.NVML_ERROR_GPU_NOT_FOUND,
}
ODD_VALUES = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**64 - 1, 10**400, -(10**400)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.booleans(),
    st.text(max_size=4),
    st.binary(max_size=4),
)
CALL_PLANS = st.dictionaries(
    st.tuples(st.integers(0, 1), st.sampled_from(LABELS)),
    st.one_of(st.sampled_from(ERRORS), ODD_VALUES.map(lambda value: [value])),
    max_size=10,
)
FIELD_PLANS = st.dictionaries(
    st.tuples(st.integers(0, 1), st.sampled_from(FIELD_IDS)),
    st.tuples(
        st.sampled_from([0, 0, 0, 2, 3, 13, 15, 16, 21, 27, 28, 999, 4242]),
        st.integers(-1, 8),
        st.integers(-(2**31), 2**31 - 1),
    ),
    max_size=8,
)


def _planned_down(index: int, calls: dict, field_plan: dict) -> bool:
    down_errors = [plan for (i, _), plan in calls.items() if i == index and isinstance(plan, type)]
    down_fields = [code for (i, _), (code, _, _) in field_plan.items() if i == index]
    return any(e().value in DOWN_CODES for e in down_errors) or bool(DOWN_CODES & set(down_fields))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls=CALL_PLANS, field_plan=FIELD_PLANS, wait_error=st.none() | st.sampled_from(ERRORS))
def test_failing_or_odd_nvml_never_raises_nor_invents_numbers(
    calls: dict, field_plan: dict, wait_error: type | None
) -> None:
    fake = FakeNvml(cards=2)
    for (index, label), plan in calls.items():
        if isinstance(plan, type):
            fake.fail(label, plan, index=index)
        else:
            fake.answer(index, label, plan[0])
    for (index, field_id), (code, value_type, value) in field_plan.items():
        fake.answer_field(index, field_id, code, value_type, value)
    if wait_error is not None:
        fake.fail("nvmlEventSetWait", wait_error)
    samples = make(fake).read()
    assert [s.index for s in samples] == [0, 1]
    for sample in samples:
        assert sample_from_wire(json.loads(dumps(sample_to_wire(sample)))) == sample
        for name, labels in FIELD_SOURCES.items():
            if getattr(sample, name) is not None:
                assert any(fake.succeeded(sample.index, label) for label in labels), name
            elif sample.state is CardState.OK:
                assert sample.field_errors.get(name), name
        if sample.state is not CardState.OK:
            assert sample.state_reason and _planned_down(sample.index, calls, field_plan)


def test_property_covers_every_field_the_collector_fills(fake: FakeNvml) -> None:
    card = make(fake).read()[0]
    filled = {f.name for f in fields(card) if getattr(card, f.name) not in (None, (), {})}
    filled |= set(card.field_errors)
    assert filled - {"node", "vendor", "source", "index", "ts", "state", "xids", "field_errors"} == set(
        FIELD_SOURCES
    )
