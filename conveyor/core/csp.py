"""A Content-Security-Policy on every response: scripts only from our own static files (no
inline or injected script runs even if some text slipped through escaping), no plugins, no
framing. A view may set `response.csp_frame_ancestors` (the public web form, which other sites
embed) or `response.csp_form_action` (its redirect after a post may go to the site's page)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.http import HttpRequest, HttpResponse


def policy(*, frame_ancestors: str = "'none'", form_action: str = "'self'") -> str:
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            # Stylesheets only from our files; style attributes stay allowed (bar widths).
            "style-src 'self'",
            "style-src-attr 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            f"form-action {form_action}",
            f"frame-ancestors {frame_ancestors}",
        ]
    )


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response and settings.CONVEYOR_CSP:
            response["Content-Security-Policy"] = policy(
                frame_ancestors=getattr(response, "csp_frame_ancestors", "'none'"),
                form_action=getattr(response, "csp_form_action", "'self'"),
            )
        return response


def embeddable(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For a page other sites frame, whose form may redirect to their pages after a post."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response.csp_frame_ancestors = "*"  # type: ignore[attr-defined]
        response.csp_form_action = "'self' https: http:"  # type: ignore[attr-defined]
        return response

    return wrapped
