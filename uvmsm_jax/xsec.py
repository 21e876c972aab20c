"""2 → 2 cross sections of the vector portal in closed form (docs/equations.md A.3–A.4).

Processes of Model 1 (Majorana N₁, B−L Z′):
  (a) N₁N₁ → f f̄ through the s-channel Z′        — :func:`sigma_dm_pair_to_sm`
  (b) Z′Z′ → f f̄ through t/u-channel f           — :func:`sigma_mediator_pair_to_fermion`
  (c) N₁N₁ → Z′Z′ through t/u-channel N₁          — :func:`sigma_dm_pair_to_mediator_pair`

Processes of Model 2 (Dirac χ with vector coupling e′, A′ with kinetic mixing ε; docs/equations.md H.1):
  (a) χχ̄ → SM through the s-channel A′ (H3)–(H5)  — :func:`sigma_dirac_pair_to_sm`, :func:`running_breit_wigner`
  (c) χχ̄ → A′A′ through t/u-channel χ (H6)        — :func:`sigma_dirac_pair_to_mediator_pair`
  the inverse A′A′ → χχ̄ (H7) is :func:`sigma_mediator_pair_to_fermion` with m_f = m_χ, coupling e′.

Cross sections are in GeV⁻², s in GeV², spin-averaged over the initial state, with the 1/2 for
identical final particles included (docs/equations.md G.2, G8). ``normalisation`` η_a, η_c selects
``paper`` (P1 as printed: η_a = 1/2, η_c = 1/8) or ``physical`` (η = 1) — docs/equations.md A.0, K1, K2.
All functions are elementwise, jit/vmap/grad-safe, and return 0 below threshold with NaN-free
gradients (docs/equations.md N.4).
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike


def safe_sqrt(x: ArrayLike) -> Array:
    """√max(x, 0) with a zero (not NaN) gradient where x ≤ 0."""
    x = jnp.asarray(x)
    positive = x > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, x, 1.0)), 0.0)


def annihilation_normalisation(mode: str) -> tuple[float, float]:
    """(η_a, η_c) of docs/equations.md A.4 for ``mode`` "paper" or "physical"."""
    return (0.5, 0.125) if mode == "paper" else (1.0, 1.0)


# --- (a) N₁N₁ → SM via s-channel vector -------------------------------------------------------


def sigma_dm_pair_to_sm(s, m_dm, g_dm, sm_width_at_sqrt_s, inverse_propagator2, eta_a=1.0):
    """σ(N₁N₁ → SM) [GeV⁻²] summed over SM final states (docs/equations.md A19–A20).

    Written through the SM width of a vector of mass √s, Γ_SM(√s) (which already contains the
    SM coupling², channel multiplicities, thresholds, neutrino 1/2 and the hadronic R ratio):

        σ_a(s) = η_a g_dm² Γ_SM(√s) √(s − 4 m_dm²) / D(s),

    where D(s) = |s − M² + i MΓ|² = (s − M²)² + M²Γ² is passed as ``inverse_propagator2`` (for
    the off-pole part of a resonance, the Γ → 0 value (s − M²)²; docs/equations.md G19). Summing (A19)
    over f reproduces this identity exactly.
    """
    return eta_a * g_dm**2 * sm_width_at_sqrt_s * safe_sqrt(s - 4.0 * m_dm**2) / inverse_propagator2


# --- (b) Z′Z′ → f f̄ --------------------------------------------------------------------------


def _kallen_root_and_log(s, m_light, m_heavy_pair):
    """R(s; m, M) and L(s; m, M) of (A17); M is the mass of the two exchanged-side bosons."""
    r = safe_sqrt((s - 4.0 * m_heavy_pair**2) * (s - 4.0 * m_light**2))
    a = s - 2.0 * m_heavy_pair**2
    # L = ln[(a + R)/(a − R)]; (a − R)(a + R) = 4(M⁴ − 4M²m² + m²s) > 0 above threshold, where the
    # ratio below is (a + R)/(a − R) ≥ 1. Below threshold it can be 0 (a = R = 0 at s = 2M²): ln 1
    # stands in there so that the masked branch keeps finite gradients.
    denom = 4.0 * (m_heavy_pair**4 - 4.0 * m_heavy_pair**2 * m_light**2 + m_light**2 * s)
    ratio = (a + r) ** 2 / jnp.where(denom > 0, denom, 1.0)
    log = jnp.log(jnp.where(ratio > 0, ratio, 1.0))
    return r, log


def _above_pair_thresholds(s, m_light, m_v, log_numerator, rational_numerator):
    """16 P(s) L/(s − 2M²) − 16 R Q(s)/(M⁴ − 4M²m² + m²s) above both pair thresholds, 0 below: the form
    of I_b (A21) and I_c (A23) with their polynomials P = ``log_numerator``, Q = ``rational_numerator``.

    Both denominators are > 0 above threshold; below it (where they can vanish) a stand-in keeps the
    masked branch, and so every gradient, finite.
    """
    r, log = _kallen_root_and_log(s, m_light, m_v)
    m2, l2 = m_v**2, m_light**2
    above = (s > 4.0 * m2) & (s > 4.0 * l2)
    a = jnp.where(above, s - 2.0 * m2, 1.0)
    q = jnp.where(above, m2**2 - 4.0 * m2 * l2 + l2 * s, 1.0)
    return jnp.where(above, 16.0 * log_numerator / a * log - 16.0 * r * rational_numerator / q, 0.0)


def t_integrated_mediator_pair_to_fermions(s, m_f, m_v):
    """I_b(s; M_f, M) of (A21): ∫dt Σ|M_b|² / (N_c g⁴ Q′⁴) for Z′Z′ → f f̄ [GeV⁴]."""
    m2, f2 = m_v**2, m_f**2
    log_numerator = s**2 + 4.0 * f2 * s + 4.0 * m2**2 - 8.0 * m2 * f2 - 8.0 * f2**2
    return _above_pair_thresholds(s, m_f, m_v, log_numerator, 2.0 * m2**2 + 4.0 * f2**2 + f2 * s)


def sigma_mediator_pair_to_fermion(s, m_f, m_v, coupling_f, n_colour):
    """σ(Z′Z′ → f f̄) [GeV⁻²] for one Dirac fermion of charge·coupling ``coupling_f`` (A22).

    ``coupling_f`` = g·Q′_f. For one left-handed neutrino use half the result with m_f = 0.
    """
    i_b = t_integrated_mediator_pair_to_fermions(s, m_f, m_v)
    denom = 144.0 * jnp.pi * s * jnp.where(s > 4.0 * m_v**2, s - 4.0 * m_v**2, 1.0)
    return n_colour * coupling_f**4 * i_b / denom


# --- (c) N₁N₁ → Z′Z′ -------------------------------------------------------------------------


def t_integrated_dm_pair_to_mediator_pair(s, m_dm, m_v):
    """I_c(s; M_N, M) of (A23): ∫dt Σ|M_c|²_phys / g⁴ [GeV⁴] (transverse-type polarisation sums)."""
    m2, n2 = m_v**2, m_dm**2
    log_numerator = s**2 + 12.0 * n2 * s + 4.0 * m2**2 - 40.0 * m2 * n2 + 24.0 * n2**2
    return _above_pair_thresholds(s, m_dm, m_v, log_numerator, 2.0 * m2**2 - 16.0 * m2 * n2 + 36.0 * n2**2 + n2 * s)


def sigma_dm_pair_to_mediator_pair(s, m_dm, m_v, g_dm, eta_c=1.0):
    """σ(N₁N₁ → Z′Z′) [GeV⁻²] of (A24), η_c = 1 (physical) or 1/8 (paper)."""
    i_c = t_integrated_dm_pair_to_mediator_pair(s, m_dm, m_v)
    denom = 128.0 * jnp.pi * s * jnp.where(s > 4.0 * m_dm**2, s - 4.0 * m_dm**2, 1.0)
    return eta_c * g_dm**4 * i_c / denom


# --- Model 2: Dirac χ with a vector coupling (docs/equations.md H.1) -----------------------------


def running_breit_wigner(s, m_v, total_width_at_sqrt_s):
    """BW(s) = (s − M²)² + s Γ_tot(√s)² [GeV⁴] of (H2): the s-channel propagator with the running width."""
    return (s - m_v**2) ** 2 + s * total_width_at_sqrt_s**2


def sigma_dirac_pair_to_sm(s, m_dm, g_dm, sm_width_at_sqrt_s, inverse_propagator2):
    """σ(χχ̄ → X) [GeV⁻²] for a Dirac χ with vector coupling ``g_dm`` = e′ (docs/equations.md (H3)–(H5)).

    The unitarity form (H4), 12π Γ_χχ̄(√s) Γ_X(√s)/(β_χ² BW), with Γ_χχ̄(√s) of (B5) written out:

        σ(s) = g_dm² Γ_X(√s) (s + 2m²) / (√s β_χ D(s)),   β_χ = √(1 − 4m²/s),

    spin-averaged over χχ̄ (1/4), summed over the final states of ``sm_width_at_sqrt_s`` = Γ_X(√s)
    [GeV] (a lepton pair gives (H3), hadrons (H5)). ``inverse_propagator2`` = D(s) [GeV⁴]: the
    running BW of :func:`running_breit_wigner`, or (s − M²)² for the off-pole part (H11). Zero
    at and below threshold.
    """
    above = s > 4.0 * m_dm**2
    s_safe = jnp.where(above, s, 4.0 * m_dm**2 + 1.0)
    beta = safe_sqrt(1.0 - 4.0 * m_dm**2 / s_safe)
    value = g_dm**2 * sm_width_at_sqrt_s * (s_safe + 2.0 * m_dm**2) / (jnp.sqrt(s_safe) * beta * inverse_propagator2)
    return jnp.where(above, value, 0.0)


def sigma_dirac_pair_to_mediator_pair(s, m_dm, m_v, g_dm):
    """σ(χχ̄ → A′A′) [GeV⁻²] of (H6): e′⁴ I_b(s; m_χ, M)/(128π s (s − 4m_χ²)), open for √s > 2 max(m_χ, M).

    I_b is (A21) with M_f → m_χ; the 1/2 for identical A′ is included. Zero below threshold.
    """
    i_b = t_integrated_mediator_pair_to_fermions(s, m_dm, m_v)
    denom = 128.0 * jnp.pi * s * jnp.where(s > 4.0 * m_dm**2, s - 4.0 * m_dm**2, 1.0)
    return g_dm**4 * i_b / denom
