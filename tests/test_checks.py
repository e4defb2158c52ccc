"""The shared argument checks (sphericalae.checks), the one array coercion and the one generator
resolver (sphericalae.seeding.resolve_generator); the rule that no module imports another's
private name is in test_layout.py."""
import numpy as np
import pytest
import torch

from sphericalae.checks import WrongType, as_float64_array, as_float_tensor, dtype_value, finite_float
from sphericalae.seeding import resolve_generator



def test_as_float_tensor_keeps_type_dtype_and_device():
    t = torch.ones(2, 3, dtype=torch.float64)
    got, back = as_float_tensor(t)
    assert got is t and back(got) is got
    a = np.ones((2, 3), dtype=np.float32)
    got, back = as_float_tensor(a)
    assert got.dtype == torch.float32 and isinstance(back(got), np.ndarray)
    got, _ = as_float_tensor([[1, 2], [3, 4]])
    assert got.dtype == torch.get_default_dtype() and got.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert as_float_tensor(torch.tensor([True, False]))[0].dtype == torch.get_default_dtype()


@pytest.mark.parametrize("bad", ["abc", b"x", None, object(), np.array(["a"]), np.array([object()]),
                                 [[1, 2], [3]], torch.ones(2, dtype=torch.complex64), {"a": 1}])
def test_coercion_refuses_what_is_not_numbers_in_one_line(bad):
    for coerce in (as_float_tensor, as_float64_array):
        with pytest.raises(WrongType, match="codes") as err:
            coerce(bad, "codes")
        assert isinstance(err.value, ValueError) and isinstance(err.value, TypeError)
        assert "\n" not in str(err.value)


def test_finite_option_and_float64_array():
    with pytest.raises(ValueError, match="x contains NaN"):
        as_float_tensor(torch.tensor([1.0, float("nan")]), "x", finite=True)
    a = as_float64_array(torch.ones(2, dtype=torch.float16, requires_grad=True))
    assert isinstance(a, np.ndarray) and a.dtype == np.float64


def test_dtype_value_and_finite_float_refuse_strings_that_look_right():
    assert dtype_value("float32") is torch.float32 and dtype_value(None) is torch.get_default_dtype()
    with pytest.raises(ValueError, match="must be a finite number"):
        finite_float("1e-3", "lr")


def test_one_generator_resolver():
    g = torch.Generator()
    assert resolve_generator(g) == (g, torch.device("cpu"))
    assert resolve_generator(None) == (None, torch.device("cpu"))
    gen, dev = resolve_generator(np.uint64(2**64 - 1))
    assert isinstance(gen, torch.Generator) and gen.initial_seed() == 2**64 - 1 and dev.type == "cpu"
    with pytest.raises(ValueError, match=r"\[0, 2\^64\)"):
        resolve_generator(-1)
    with pytest.raises(ValueError, match="or None"):
        resolve_generator(0.5)
    with pytest.raises(WrongType) as err:
        resolve_generator(None, allow_none=False)
    assert "or None" not in str(err.value)
