"""People (buyers) and companies. Lifecycle status is derived in pipelines.selectors."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Temperature(models.TextChoices):
    COLD = "cold", _("Cold")
    WARM = "warm", _("Warm")
    HOT = "hot", _("Hot")


class Company(models.Model):
    """Where a person works. Optional: we sell to people, not to companies."""

    name = models.CharField(_("name"), max_length=200)
    website = models.CharField(_("website"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("company")
        verbose_name_plural = _("companies")
        ordering = ["name"]
        indexes = [models.Index(fields=["name"])]

    def __str__(self) -> str:
        return self.name


# Person fields derived from the won deals, never set by hand.
PURCHASE_FACTS = ("first_won_at", "repeat_won_at", "referral_won_at")


class Person(models.Model):
    """A buyer. Phones are stored in E.164, e-mails lower-cased, so duplicates can be matched."""

    name = models.CharField(_("name"), max_length=200)
    email = models.CharField(_("e-mail"), max_length=254, blank=True, db_index=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True, db_index=True)
    company = models.ForeignKey(
        Company,
        verbose_name=_("company"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="people",
    )
    source = models.CharField(_("source"), max_length=64, blank=True, db_index=True)
    utm_source = models.CharField(max_length=128, blank=True)
    utm_medium = models.CharField(max_length=128, blank=True)
    utm_campaign = models.CharField(max_length=128, blank=True)
    utm_term = models.CharField(max_length=128, blank=True)
    utm_content = models.CharField(max_length=128, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="people",
    )
    temperature = models.CharField(
        _("temperature"), max_length=8, choices=Temperature.choices, default=Temperature.COLD
    )
    referred_by = models.ForeignKey(
        "self",
        verbose_name=_("referred by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="referrals",
    )
    consent_email = models.BooleanField(_("may e-mail"), default=False)
    consent_phone = models.BooleanField(_("may call"), default=False)
    created_at = models.DateTimeField(_("first recorded"), default=timezone.now)
    external_id = models.CharField(_("external id"), max_length=64, null=True, blank=True)
    # Where the person stands on the conveyor, derived from their won deals and kept in the same
    # transaction as every change to them (`pipelines.services.person_purchases_refresh`), so
    # the repeat purchase and referral rates do not read every won deal of the account.
    first_won_at = models.DateTimeField(_("first purchase"), null=True, blank=True, editable=False)
    repeat_won_at = models.DateTimeField(
        _("second purchase"), null=True, blank=True, editable=False
    )
    # The earliest first purchase of a person they referred.
    referral_won_at = models.DateTimeField(
        _("referred a customer"), null=True, blank=True, editable=False
    )

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("people")
        ordering = ["name"]
        indexes = [
            # Leads of a window, by source too, read from the index alone.
            models.Index(fields=["created_at", "source"], name="person_created_source"),
            # Customers at a time or of a window, the referrers among them and those who bought
            # again, by source too, read from the index alone.
            models.Index(
                fields=["first_won_at", "referral_won_at", "repeat_won_at", "source"],
                condition=Q(first_won_at__isnull=False),
                name="person_customer_source",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"],
                condition=Q(external_id__isnull=False),
                name="person_external_id_unique",
            ),
            models.CheckConstraint(
                condition=~Q(referred_by=models.F("pk")), name="person_not_referred_by_self"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SuppressionKind(models.TextChoices):
    EMAIL = "email", _("E-mail")
    PHONE = "phone", _("Phone")


class Suppression(models.Model):
    """A contact of an erased person that intake must not record again.

    Only the SHA-256 of the normalised value is kept (e-mail lower-cased, phone in E.164, as
    `people.services.contacts_clean` stores them), so the list itself holds no contact data:
    a new lead's contacts are normalised, hashed and looked up.
    """

    kind = models.CharField(_("kind"), max_length=8, choices=SuppressionKind.choices)
    digest = models.CharField(_("SHA-256 of the normalised value"), max_length=64)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("suppressed contact")
        verbose_name_plural = _("suppressed contacts")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "digest"], name="suppression_kind_digest")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.digest[:12]}…"
