"""Physical constants and particle masses (docs/equations.md Part G.1).

Natural units ħ = c = k_B = 1; every mass, energy and temperature is in GeV. Values are the ones
docs/equations.md G.1 fixes for reproducibility (PDG values where it says so).
"""

import math

# --- Planck masses (GeV); docs/equations.md G.1, K12 -------------------------------------------------
M_PLANCK_REDUCED_PAPER = 2.4e18
"""Reduced Planck mass used by P1 ("paper" mode), GeV."""
M_PLANCK_REDUCED = 2.435e18
"""Reduced Planck mass ("physical" mode and Model 2), GeV."""

# --- cosmology today ---------------------------------------------------------------------------
OMEGA_H2_PER_MASS_YIELD = 2.7420e8
"""s0 / (ρc/h²) in GeV⁻¹: Ωh² = 2.7420e8 (m/GeV) Y∞ (docs/equations.md G18)."""
OMEGA_DM_H2 = 0.12
"""Observed dark-matter density Ω_DM h² (both papers)."""

# --- couplings --------------------------------------------------------------------------------
ALPHA_EM = 1.0 / 137.036
"""Fine-structure constant α (Thomson limit)."""
E_EM = math.sqrt(4.0 * math.pi * ALPHA_EM)
"""Electric charge e = √(4πα) = 0.30282."""
G_FERMI = 1.1663787e-5
"""Fermi constant, GeV⁻²."""
V_HIGGS = 246.22
"""Higgs vacuum expectation value used in P1 (2.8), GeV (docs/equations.md K16)."""
ALPHA_S_CONTINUUM = 0.2
"""α_s used in the perturbative R-ratio continuum factor (1 + α_s/π) above the data (docs/equations.md D5)."""
ZETA3 = 1.2020569031595942

# --- conversions ------------------------------------------------------------------------------
HBAR_C_GEV_M = 1.973269804e-16
"""ħc in GeV·m (lengths appear only in the SHiP part)."""
HBAR_GEV_S = 6.582119569e-25
"""ħ in GeV·s."""
GEV2_TO_MB = 0.3893793721
"""1 GeV⁻² in mb."""

# --- particle masses (GeV); docs/equations.md G.1 -----------------------------------------------------
M_ELECTRON = 0.51099895e-3
M_MUON = 0.1056584
M_TAU = 1.77686
M_PI0 = 0.1349768
M_PI_CHARGED = 0.1395704
M_ETA = 0.547862
M_OMEGA = 0.78266
M_ETA_PRIME = 0.95778
M_PHI = 1.019461
M_PROTON = 0.938272
M_Z = 91.1876
"""Z boson mass (PDG): the dark photon's couplings (B2) hold for momenta well below it (K46)."""

# Quark masses for perturbative widths above the switch point (threshold-type; docs/equations.md K10).
QUARK_MASSES = {"u": 0.0, "d": 0.0, "s": 0.095, "c": 1.5, "b": 4.8, "t": 172.7}
QUARK_CHARGES_EM = {"u": 2.0 / 3.0, "d": -1.0 / 3.0, "s": -1.0 / 3.0, "c": 2.0 / 3.0, "b": -1.0 / 3.0, "t": 2.0 / 3.0}
LEPTON_MASSES = {"e": M_ELECTRON, "mu": M_MUON, "tau": M_TAU}

# PDG branching fractions used by the SHiP meson channels (docs/equations.md G.1).
BR_PI0_GAMMA_GAMMA = 0.98823
BR_ETA_GAMMA_GAMMA = 0.3936
BR_ETA_PRIME_GAMMA_GAMMA = 0.0231
BR_OMEGA_PI0_GAMMA = 0.0835

# --- degrees of freedom (docs/equations.md G.2) --------------------------------------------------------
G_N1 = 2.0
"""Internal degrees of freedom of the Majorana N₁."""
G_VECTOR = 3.0
"""Internal degrees of freedom of a massive vector (Z′ or A′)."""
G_DIRAC = 2.0
"""Degrees of freedom of one Dirac fermion χ (χ̄ counted separately)."""
