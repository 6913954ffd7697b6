"""Pipeline diagrams of the course's four architectures, drawn with matplotlib.

``autoencoder_diagram``, ``denoising_autoencoder_diagram``, ``vae_diagram`` and
``conditional_vae_diagram`` each return a matplotlib Figure sized for a slide (13 inches
wide, labels of 13 points and more). They share one style: data in grey boxes, the
encoder (parameters phi) as a blue trapezoid that narrows, the code in yellow, the decoder
(parameters theta) as a green trapezoid that widens, noise in cyan, loss terms in red
boxes joined to what they compare by dashed lines. The colours are Paul Tol's "pale"
scheme, which stays distinguishable under the common colour-vision deficiencies, and every
box is labelled as well, so no colour carries meaning alone.

The notation is the course's: encoder ``g_phi`` / ``q_phi``, decoder ``f_theta`` /
``p_theta``, ``J`` latent dimensions, ``D`` data dimensions, the loss terms
``L_rec`` and ``L_KL``. Pass ``J`` (and ``D``) to print the sizes of a concrete model
instead of the letters.

Each patch and each label carries a ``gid`` (``"x"``, ``"encoder"``, ``"loss_rec"``,
``"x:label"``, ...), so tests and readers can find the parts of a drawing.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Polygon
from matplotlib.path import Path

from .validation import check_int

__all__ = [
    "autoencoder_diagram",
    "denoising_autoencoder_diagram",
    "vae_diagram",
    "conditional_vae_diagram",
]

# Paul Tol's pale scheme (fills) with black outlines and text
COLORS = {
    "data": "#DDDDDD",      # pale grey
    "encoder": "#BBCCEE",   # pale blue
    "code": "#EEEEBB",      # pale yellow
    "decoder": "#CCDDAA",   # pale green
    "noise": "#CCEEFF",     # pale cyan
    "loss": "#FFCCCC",      # pale red
}
FONT = 15          # box labels
SMALL = 13         # notes
TITLE = 16
WIDTH = 13.0       # inches, every diagram
ROW_GAP = 0.42     # inches between neighbouring boxes of the main row


class _Canvas:
    """An axes whose data units are inches, with boxes that remember their geometry."""

    def __init__(self, height: float, title: str):
        self.fig, self.ax = plt.subplots(figsize=(WIDTH, height))
        self.fig.subplots_adjust(left=0, right=1, bottom=0, top=1)
        self.ax.set_xlim(0, WIDTH)
        self.ax.set_ylim(0, height)
        self.ax.set_axis_off()
        self.height = height
        self.nodes = {}
        self.ax.text(WIDTH / 2, height - 0.12, title, ha="center", va="top", fontsize=TITLE, gid="title")

    # boxes ---------------------------------------------------------------------------
    def node(self, name, x, y, w, h, text, kind, taper=None, fontsize=FONT):
        """A box centred at (x, y); ``taper`` = "in" narrows to the right, "out" widens."""
        if taper is None:
            patch = FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0,rounding_size=0.12",
                                   fc=COLORS[kind], ec="black", lw=1.4, gid=name)
            left = right = h / 2
        else:
            narrow = 0.58 * h / 2
            left, right = (h / 2, narrow) if taper == "in" else (narrow, h / 2)
            patch = Polygon([(x - w / 2, y - left), (x + w / 2, y - right), (x + w / 2, y + right),
                             (x - w / 2, y + left)], closed=True, fc=COLORS[kind], ec="black", lw=1.4,
                            joinstyle="round", gid=name)
        self.ax.add_patch(patch)
        self.ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, linespacing=1.35,
                     gid=f"{name}:label", zorder=3)
        self.nodes[name] = dict(x=x, y=y, w=w, h=h, left=left, right=right)
        return patch

    def half_height(self, name, x):
        n = self.nodes[name]
        t = (x - (n["x"] - n["w"] / 2)) / n["w"]
        return (1 - t) * n["left"] + t * n["right"]

    def left(self, name, dy=0.0):
        n = self.nodes[name]
        return (n["x"] - n["w"] / 2, n["y"] + dy)

    def right(self, name, dy=0.0):
        n = self.nodes[name]
        return (n["x"] + n["w"] / 2, n["y"] + dy)

    def top(self, name, dx=0.0):
        n = self.nodes[name]
        return (n["x"] + dx, n["y"] + self.half_height(name, n["x"] + dx))

    def bottom(self, name, dx=0.0):
        n = self.nodes[name]
        return (n["x"] + dx, n["y"] - self.half_height(name, n["x"] + dx))

    # connections ---------------------------------------------------------------------
    def arrow(self, *points, dashed=False, head=True, gid=None, color="black"):
        """A polyline through ``points`` with an arrow head at the last one."""
        codes = [Path.MOVETO] + [Path.LINETO] * (len(points) - 1)
        patch = FancyArrowPatch(path=Path(points, codes), arrowstyle="-|>" if head else "-",
                                mutation_scale=20, lw=1.6, color=color,
                                linestyle=(0, (4, 3)) if dashed else "-", shrinkA=0, shrinkB=0,
                                gid=gid, zorder=2)
        self.ax.add_patch(patch)
        return patch

    def chain(self, names):
        for a, b in zip(names[:-1], names[1:]):
            self.arrow(self.right(a), self.left(b), gid=f"{a}->{b}")

    def note(self, x, y, text, gid, **kwargs):
        kwargs.setdefault("fontsize", SMALL)
        kwargs.setdefault("ha", "center")
        kwargs.setdefault("va", "center")
        return self.ax.text(x, y, text, gid=gid, **kwargs)


def _row(widths, margin=0.25):
    """Centres of boxes of the given widths laid out left to right with equal gaps."""
    gap = (WIDTH - 2 * margin - sum(widths)) / (len(widths) - 1)
    centres, x = [], margin
    for w in widths:
        centres.append(x + w / 2)
        x += w + gap
    return centres


def _size(value, letter):
    return f"${letter}$ numbers" if value is None else f"{value} numbers"


def _check_sizes(J, D):
    if J is not None:
        J = check_int("J", J, minimum=1, what="the number of latent dimensions")
    if D is not None:
        D = check_int("D", D, minimum=1, what="the number of data dimensions")
    return J, D


def _loss_link(c, source, loss, y, side, gid):
    """A dashed elbow from below ``source`` down to height ``y``, then across into ``loss``."""
    start = c.bottom(source)
    end = c.left(loss) if side == "left" else c.right(loss)
    return c.arrow(start, (start[0], y), (end[0], y), dashed=True, gid=gid)


def autoencoder_diagram(J: int | None = None, D: int | None = None):
    """The autoencoder: x -> encoder g_phi -> code z (J numbers) -> decoder f_theta -> x_hat.

    The loss L_rec(x, x_hat) = ||x - x_hat||^2 is drawn below, joined to the input x and to
    the reconstruction x_hat, which it compares. ``J`` and ``D`` (optional positive ints)
    print the sizes of a concrete model. Returns the Figure.
    """
    J, D = _check_sizes(J, D)
    c = _Canvas(3.9, "Autoencoder: squeeze $x$ through a bottleneck of $J$ numbers and rebuild it")
    y = 2.35
    names = ["x", "encoder", "z", "decoder", "x_hat"]
    widths = [1.9, 2.3, 2.0, 2.3, 2.3]
    xs = _row(widths, margin=0.4)
    c.node("x", xs[0], y, widths[0], 1.3, f"input $x$\n{_size(D, 'D')}", "data")
    c.node("encoder", xs[1], y, widths[1], 1.7, "encoder\n$g_\\phi$", "encoder", taper="in")
    c.node("z", xs[2], y, widths[2], 0.95, f"code $z$\n{_size(J, 'J')}", "code", fontsize=14)
    c.node("decoder", xs[3], y, widths[3], 1.7, "decoder\n$f_\\theta$", "decoder", taper="out")
    c.node("x_hat", xs[4], y, widths[4], 1.3, f"reconstruction\n$\\hat x = f_\\theta(z)$", "data")
    c.chain(names)
    c.node("loss_rec", (xs[0] + xs[4]) / 2, 0.55, 5.2, 0.62,
           "$\\mathcal{L}_{\\mathrm{rec}}(x, \\hat x) = \\Vert x - \\hat x \\Vert^2$", "loss")
    _loss_link(c, "x", "loss_rec", 0.55, "left", gid="x->loss_rec")
    _loss_link(c, "x_hat", "loss_rec", 0.55, "right", gid="x_hat->loss_rec")
    return c.fig


def denoising_autoencoder_diagram(J: int | None = None, D: int | None = None):
    """The denoising autoencoder: corrupt x, encode and decode the damaged x~, compare with clean x.

    x -> corruption kappa(x~ | x) -> x~ -> encoder g_phi -> z -> decoder f_theta -> x_hat; the
    loss ||x - x_hat||^2 is joined to the CLEAN input x, not to x~. ``J`` and ``D``
    (optional positive ints) print the sizes of a concrete model. Returns the Figure.
    """
    J, D = _check_sizes(J, D)
    c = _Canvas(4.1, "Denoising autoencoder: rebuild the clean $x$ from a damaged copy $\\tilde x$")
    y = 2.45
    names = ["x", "corrupt", "x_tilde", "encoder", "z", "decoder", "x_hat"]
    widths = [1.45, 2.05, 1.5, 1.5, 1.5, 1.5, 1.95]
    xs = _row(widths, margin=0.2)
    c.node("x", xs[0], y, widths[0], 1.3, f"clean\ninput $x$", "data")
    c.node("corrupt", xs[1], y, widths[1], 1.3, "corruption\n$\\kappa(\\tilde x \\mid x)$", "noise")
    c.node("x_tilde", xs[2], y, widths[2], 1.3, "damaged\ninput $\\tilde x$", "data")
    c.node("encoder", xs[3], y, widths[3], 1.7, "encoder\n$g_\\phi$", "encoder", taper="in")
    c.node("z", xs[4], y, widths[4], 0.95, f"code $z$\n{_size(J, 'J')}", "code", fontsize=13)
    c.node("decoder", xs[5], y, widths[5], 1.7, "decoder\n$f_\\theta$", "decoder", taper="out")
    c.node("x_hat", xs[6], y, widths[6], 1.3, "reconstruction\n$\\hat x = f_\\theta(z)$", "data", fontsize=14)
    c.chain(names)
    c.node("loss_rec", (xs[0] + xs[6]) / 2, 0.55, 6.4, 0.62,
           "$\\mathcal{L}_{\\mathrm{rec}}(x, \\hat x) = \\Vert x - \\hat x \\Vert^2$   (clean $x$, not $\\tilde x$)",
           "loss")
    _loss_link(c, "x", "loss_rec", 0.55, "left", gid="x->loss_rec")
    _loss_link(c, "x_hat", "loss_rec", 0.55, "right", gid="x_hat->loss_rec")
    if D is not None:
        c.note(xs[0], y + 1.0, f"{D} numbers", gid="x:size")
    return c.fig


def _variational(J, D, conditional, num_classes):
    given = "x, y" if conditional else "x"
    title = ("Conditional VAE" if conditional else "Variational autoencoder") + \
        ": loss = $\\mathcal{L}_{\\mathrm{rec}} + \\mathcal{L}_{\\mathrm{KL}}$, the negative ELBO"
    height = 6.2 if conditional else 5.3
    c = _Canvas(height, title)
    y = height - 2.75
    widths = [1.7, 2.15, 1.6, 2.5, 2.15, 1.95]
    xs = _row(widths, margin=0.15)
    x_x, x_enc, x_heads, x_z, x_dec, x_hat = xs
    c.node("x", x_x, y, widths[0], 1.3, f"input $x$" + ("" if D is None else f"\n{D} numbers"), "data")
    c.node("encoder", x_enc, y, widths[1], 1.8, f"encoder\n$q_\\phi(z \\mid {given})$", "encoder", taper="in")
    # the two heads of the encoder, framed together: they are q_phi(z | x)
    dy = 0.42
    c.node("mu", x_heads, y + dy, widths[2] - 0.2, 0.62, "$\\mu$", "encoder")
    c.node("logvar", x_heads, y - dy, widths[2] - 0.2, 0.62, "$\\log \\sigma^2$", "encoder")
    frame = FancyBboxPatch((x_heads - widths[2] / 2, y - 0.9), widths[2], 1.8,
                           boxstyle="round,pad=0,rounding_size=0.12", fc="none", ec="black", lw=1.2,
                           linestyle=(0, (4, 3)), gid="heads")
    c.ax.add_patch(frame)
    c.nodes["heads"] = dict(x=x_heads, y=y, w=widths[2], h=1.8, left=0.9, right=0.9)
    c.arrow(c.right("encoder", 0.0), (c.left("mu")[0] - 0.35, y), head=False, gid="encoder->heads")
    for head in ("mu", "logvar"):
        c.arrow((c.left("mu")[0] - 0.35, y), (c.left(head)[0] - 0.35, c.nodes[head]["y"]), c.left(head),
                gid=f"encoder->{head}")
    c.node("z", x_z, y, widths[3], 1.15, f"$z = \\mu + \\sigma \\odot \\epsilon$\n{_size(J, 'J')}", "code")
    for head in ("mu", "logvar"):
        c.arrow(c.right(head), (c.left("z")[0], c.nodes[head]["y"]), gid=f"{head}->z")
    # the noise comes in from the side: an input of the computation, no parameters, no gradient
    eps_y = y + 1.6
    c.node("eps", x_z, eps_y, 2.05, 0.62, "$\\epsilon \\sim \\mathcal{N}(0, I)$", "noise")
    c.arrow(c.bottom("eps"), c.top("z"), gid="eps->z")
    c.note(x_z + 1.2, eps_y + 0.02, "gradients reach $\\phi$ through $\\mu$ and $\\sigma$;\n"
           "$\\epsilon$ is drawn outside the network", gid="gradient_note", ha="left")
    c.node("decoder", x_dec, y, widths[4], 1.8, f"decoder\n$p_\\theta(x \\mid z{', y' if conditional else ''})$",
           "decoder", taper="out")
    c.node("x_hat", x_hat, y, widths[5], 1.3, "$\\hat x$, the mean\nof the decoder", "data", fontsize=14)
    c.arrow(c.right("z"), c.left("decoder"), gid="z->decoder")
    c.arrow(c.right("decoder"), c.left("x_hat"), gid="decoder->x_hat")
    c.arrow(c.right("x"), c.left("encoder"), gid="x->encoder")
    # L_KL above the two heads
    kl_text = f"$\\mathcal{{L}}_{{\\mathrm{{KL}}}} = \\mathrm{{KL}}(q_\\phi(z \\mid {given}) \\,\\|\\, \\mathcal{{N}}(0, I))$"
    kl_w = 5.3 if conditional else 4.75
    kl_x = max(x_heads + 0.75 - kl_w / 2, kl_w / 2 + 0.2)
    c.node("loss_kl", kl_x, eps_y, kl_w, 0.62, kl_text, "loss")
    c.arrow(c.top("heads", 0.0), (x_heads, c.bottom("loss_kl")[1]), dashed=True, gid="heads->loss_kl")
    # the label y, into the encoder and into the decoder
    loss_y = 0.5
    if conditional:
        y_label = 1.75
        size = "" if num_classes is None else f", {num_classes} numbers"
        c.node("y", x_heads, y_label, 3.0 if num_classes is None else 3.9, 0.62, f"label $y$ (one-hot{size})", "data", fontsize=14)
        c.arrow(c.left("y"), (x_enc, y_label), c.bottom("encoder"), gid="y->encoder")
        c.arrow(c.right("y"), (x_dec, y_label), c.bottom("decoder"), gid="y->decoder")
    # L_rec below, comparing the input x with the decoder's distribution at x
    rec_text = f"$\\mathcal{{L}}_{{\\mathrm{{rec}}}} = -\\log p_\\theta(x \\mid z{', y' if conditional else ''})$"
    c.node("loss_rec", (x_z + x_hat) / 2 - 0.3, loss_y, 4.4, 0.62, rec_text, "loss")
    _loss_link(c, "x", "loss_rec", loss_y, "left", gid="x->loss_rec")
    _loss_link(c, "x_hat", "loss_rec", loss_y, "right", gid="x_hat->loss_rec")
    return c.fig


def vae_diagram(J: int | None = None, D: int | None = None):
    """The VAE, with the reparameterisation drawn out.

    x -> encoder q_phi(z | x) -> two heads mu and log sigma^2 -> z = mu + sigma * eps, with
    eps ~ N(0, I) coming in from the side (gradients reach phi through mu and sigma, not
    through eps) -> decoder p_theta(x | z) -> x_hat, its mean. The two loss terms are joined
    to what they depend on: L_KL = KL(q_phi(z | x) || N(0, I)) to the heads,
    L_rec = -log p_theta(x | z) to the input x and the decoder's output. ``J`` and ``D``
    (optional positive ints) print the sizes of a concrete model. Returns the Figure.
    """
    J, D = _check_sizes(J, D)
    return _variational(J, D, conditional=False, num_classes=None)


def conditional_vae_diagram(J: int | None = None, D: int | None = None, num_classes: int | None = None):
    """The conditional VAE: the VAE of ``vae_diagram`` with the one-hot label y fed to both networks.

    The encoder is q_phi(z | x, y), the decoder p_theta(x | z, y), and the loss terms are
    L_KL = KL(q_phi(z | x, y) || N(0, I)) and L_rec = -log p_theta(x | z, y). ``J``, ``D`` and
    ``num_classes`` (the number of classes, the length of the one-hot y; optional positive
    ints) print the sizes of a concrete model. Returns the Figure.
    """
    J, D = _check_sizes(J, D)
    if num_classes is not None:
        num_classes = check_int("num_classes", num_classes, minimum=1, what="the number of classes")
    return _variational(J, D, conditional=True, num_classes=num_classes)
