"""The access policy: for every field of the schema, which actors may select it.

Policies are declared here, in one table, rather than scattered over resolvers, and are
checked before execution by walking the operation (its fields, fragments, inline fragments
and aliases) with graphql-core's ``TypeInfo``. A field without a declared policy is
refused (default deny); ``tests/security/test_policy.py`` fails when a field, mutation or
type of the schema has none, or when this table names one that does not exist.

Fields decide *what* may be selected; *which rows* a customer session reaches is decided
where objects are loaded (``app/resolvers/access.py``). The check's result depends only on
the document, the operation name and the actor, so it is cached.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSchema,
    OperationDefinitionNode,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    get_operation_ast,
    parse,
    visit,
)

from app.security.principals import Actor

Policy = frozenset[Actor]

ADMIN: Policy = frozenset({Actor.ADMIN})
STAFF: Policy = frozenset({Actor.ADMIN, Actor.SUPPORT, Actor.FINANCE, Actor.GROWTH, Actor.READONLY})
# Personal data: not for the growth role, which works on aggregates.
STAFF_PII: Policy = STAFF - {Actor.GROWTH}
SELF: Policy = STAFF | {Actor.CUSTOMER}  # a customer: only its own rows
SELF_PII: Policy = STAFF_PII | {Actor.CUSTOMER}
PUBLIC: Policy = SELF | {Actor.ANONYMOUS}
SUPPORT: Policy = frozenset({Actor.ADMIN, Actor.SUPPORT})
FINANCE: Policy = frozenset({Actor.ADMIN, Actor.FINANCE})
GROWTH: Policy = frozenset({Actor.ADMIN, Actor.GROWTH})
BILLING: Policy = frozenset({Actor.ADMIN, Actor.SUPPORT, Actor.FINANCE})
# Self-service: a customer on its own objects, and the back office for it.
SELF_SERVICE: Policy = SUPPORT | {Actor.CUSTOMER}


def fields(*groups: tuple[Policy, str]) -> dict[str, Policy]:
    table: dict[str, Policy] = {}
    for policy, names in groups:
        for name in names.split():
            if name in table:
                raise ValueError(f"{name} declared twice")
            table[name] = policy
    return table


# Roots and Node types: every field declared. Other object types (payloads, connections,
# edges, money, lines …) are VALUE_TYPES: reachable only through a field declared here,
# their fields inherit its decision.
TYPES: dict[str, dict[str, Policy]] = {
    "Query": fields(
        (PUBLIC, "node nodes product products price prices currencies viewer"),
        (SELF, "customer payment refund dispute subscription invoice"),
        (SELF_SERVICE | {Actor.FINANCE, Actor.READONLY}, "previewSubscriptionChange"),
        (PUBLIC, "checkoutOffer"),
        (STAFF, "customers invoices experiment experiments"),
        (ADMIN, "auditEvents apiKeys"),
        (STAFF_PII, "events event"),
        (SUPPORT, "webhookEndpoints"),
        (STAFF, "creditNotes"),
        (STAFF, "meters"),
        (BILLING, "riskRules riskListEntries reviews"),
        (STAFF, "coupons promotionCodes"),
        (BILLING, "disputes disputeEvidenceSuggestion"),
    ),
    "Mutation": fields(
        (SUPPORT, "createCustomer updateCustomer capturePayment cancelPayment createRefund"),
        (SUPPORT, "pauseSubscription resumeSubscription updateSubscription"),
        (SUPPORT, "createCustomerSession"),
        (ADMIN, "createProduct updateProduct createPrice archivePrice createTaxRate"),
        (ADMIN, "createTestClock advanceTestClock createApiKey revokeApiKey eraseCustomer"),
        (SELF_SERVICE, "exportCustomerData"),
        (GROWTH, "createCoupon createExperiment updateExperiment startExperiment"),
        (GROWTH, "pauseExperiment concludeExperiment archiveExperiment"),
        (GROWTH, "createPromotionCode deactivatePromotionCode deactivateCoupon"),
        # a checkout's question, by customers and visitors (rate limited as guessable)
        (PUBLIC, "validatePromotionCode"),
        (
            SELF_SERVICE,
            "startPaymentMethodSetup attachPaymentMethod detachPaymentMethod "
            "setDefaultPaymentMethod createPayment confirmPayment createSubscription "
            "cancelSubscription",
        ),
        (SELF_SERVICE | {Actor.FINANCE}, "payInvoice"),
        (BILLING, "createInvoiceItem createInvoice finalizeInvoice"),
        (FINANCE, "voidInvoice markInvoiceUncollectible"),
        (FINANCE, "createCreditNote voidCreditNote"),
        (
            ADMIN,
            "createWebhookEndpoint updateWebhookEndpoint deleteWebhookEndpoint "
            "rotateWebhookEndpointSecret retryWebhookDelivery",
        ),
        (ADMIN, "createMeter updateMeter archiveMeter"),
        (BILLING, "recordUsage createUsageAlert archiveUsageAlert setUsageThreshold"),
        (
            ADMIN,
            "createRiskRule updateRiskRule installDefaultRiskRules addRiskListEntry "
            "removeRiskListEntry",
        ),
        (SUPPORT, "approveReview rejectReview"),
        (BILLING, "updateDisputeEvidence submitDisputeEvidence"),
    ),
    # Live subscriptions: as the query roots of the same objects (a customer only its own,
    # app/resolvers/live.py), the event stream as the `events` query.
    "LiveUpdates": fields(
        (SELF, "paymentUpdated invoiceUpdated subscriptionUpdated"),
        (STAFF_PII, "events"),
    ),
    "Node": fields((PUBLIC, "id")),
    "Event": fields(
        (
            STAFF_PII,
            "id sequence type name apiVersion createdAt objectType objectId data "
            "previousAttributes",
        ),
    ),
    "Product": fields(
        (PUBLIC, "id name description active features createdAt updatedAt prices"),
        (PUBLIC, "defaultPrice"),
        (STAFF, "metadata"),
    ),
    "Price": fields(
        (
            PUBLIC,
            "id unitAmount type recurring trialPeriodDays active lookupKey nickname "
            "createdAt product model unitAmountDecimal tiers packageSize meter",
        ),
        (STAFF, "metadata"),
    ),
    "Customer": fields(
        (
            SELF,
            "id country locale createdAt updatedAt paymentMethods defaultPaymentMethod "
            "entitlements subscriptions invoices payments usage creditBalance",
        ),
        (SELF_PII, "email name"),
        (STAFF, "metadata testClockId erasedAt"),
    ),
    "PaymentMethod": fields(
        (SELF, "id psp type brand last4 expMonth expYear wallet isDefault isDetached createdAt"),
        (SELF_PII, "email"),
    ),
    "Payment": fields(
        (
            SELF,
            "id status amount amountCapturable amountReceived amountRefunded captureMethod "
            "offSession decline nextAction outcomeUnknown psp pspReference description "
            "createdAt updatedAt refunds disputes",
        ),
        (STAFF, "metadata events"),
        # Never to the customer: a fraudster would learn which rule to avoid.
        (BILLING, "risk"),
    ),
    "Refund": fields(
        (SELF, "id status amount reason failureReason pspReference createdAt payment"),
    ),
    "Dispute": fields(
        (SELF, "id status reason amount outcome createdAt payment"),
        (STAFF, "evidenceDueBy pspReference psp hasEvidence evidenceUpdatedAt"),
        (STAFF, "evidenceSubmittedAt"),
        # The evidence holds the customer's communications and personal data.
        (BILLING, "evidence"),
    ),
    "Subscription": fields(
        (
            SELF,
            "id status currentPeriodStart currentPeriodEnd trialEnd cancelAtPeriodEnd "
            "canceledAt endedAt nextRetryAt createdAt items invoices latestInvoice "
            "experiment experimentVariant collectionStop upcomingInvoice currentUsage "
            "usageThreshold",
        ),
    ),
    "Meter": fields(
        (PUBLIC, "id key name aggregation valueProperty archivedAt createdAt updatedAt"),
        (STAFF, "filters alerts"),
    ),
    "UsageAlert": fields((STAFF, "id quantity customerId archivedAt createdAt")),
    "Invoice": fields(
        (
            SELF,
            "id number status billingReason periodStart periodEnd subtotal discount tax "
            "taxIncluded total amountPaid amountRemaining attemptCount dueDate paidAt "
            "createdAt lines payments collectionStop amountCredited creditBalanceApplied "
            "creditNotes",
        ),
    ),
    "CreditNote": fields(
        (
            SELF,
            "id number status reason memo subtotal tax taxIncluded total prePaymentAmount "
            "refundAmount creditBalanceAmount outOfBandAmount voidedAt createdAt invoice lines "
            "refund",
        ),
    ),
    "TestClock": fields((STAFF, "id name frozenTime")),
    "RiskRule": fields(
        (BILLING, "id name condition action score position active createdAt updatedAt"),
    ),
    "RiskListEntry": fields((BILLING, "id list dimension value note createdAt")),
    "Review": fields(
        (
            BILLING,
            "id status reason closesAt closedAt closedReason closedBy note createdAt payment",
        ),
    ),
    "Coupon": fields(
        # What an offer shows; the code (guessable) and the counters stay with staff.
        (PUBLIC, "id name percentOff amountOff duration durationInMonths"),
        (STAFF, "code maxRedemptions timesRedeemed redeemBy active"),
    ),
    "PromotionCode": fields(
        (
            STAFF,
            "id code active maxRedemptions timesRedeemed expiresAt firstTimeOnly "
            "minimumAmount customerId createdAt coupon",
        ),
    ),
    "TaxRate": fields((STAFF, "id displayName percentage inclusive country")),
    # An offer names its experiment and variant (frontends log them); the design, salt and
    # results are for the back office.
    "Experiment": fields(
        (PUBLIC, "id key"),
        (
            STAFF,
            "name hypothesis status statusReason currency trafficPercent audience salt "
            "layer layerBuckets guardrails alpha minimumDetectableLift winnerShipped "
            "createdAt startedAt pausedAt concludedAt archivedAt product variants winner "
            "results",
        ),
    ),
    "ExperimentVariant": fields(
        (PUBLIC, "id name"),
        (STAFF, "isControl weight trialPeriodDays price coupon experiment"),
    ),
    "ApiKey": fields((ADMIN, "id name role prefix createdAt revokedAt")),
    "WebhookEndpoint": fields(
        (
            SUPPORT,
            "id url description eventTypes enabled disabledAt disabledReason failingSince "
            "createdAt updatedAt deliveries",
        )
    ),
    "WebhookDelivery": fields(
        (
            SUPPORT,
            "id status attempts responseCode latencyMs lastError nextAttemptAt deliveredAt "
            "createdAt event",
        )
    ),
    "AuditEvent": fields(
        (
            ADMIN,
            "id occurredAt principal actor operation targetIds input outcome errorCodes requestId",
        )
    ),
}

VALUE_TYPES = frozenset(
    {
        # risk rules and reviews
        "InstallDefaultRiskRulesPayload",
        "PaymentRisk",
        "RemoveRiskListEntryPayload",
        "ReviewConnection",
        "ReviewEdge",
        "ReviewPayload",
        "RiskCondition",
        "RiskListEntryConnection",
        "RiskListEntryEdge",
        "RiskListEntryPayload",
        "RiskReason",
        "RiskRuleConnection",
        "RiskRuleEdge",
        "RiskRulePayload",
        # usage-based billing
        "CustomerUsage",
        "MeterConnection",
        "MeterEdge",
        "MeterFilter",
        "MeterPayload",
        "PriceTier",
        "RecordUsagePayload",
        "UsageBucket",
        "UsageCharge",
        "UsageEventResult",
        "UsageAlertPayload",
        "ArchivePricePayload",
        "CouponPayload",
        "CouponConnection",
        "CouponEdge",
        "PromotionCodeConnection",
        "PromotionCodeEdge",
        "PromotionCodePayload",
        "PromotionCodeValidation",
        "CreateCustomerPayload",
        "CreatePricePayload",
        "CreateProductPayload",
        "Currency",
        "CustomerConnection",
        "CollectionStop",
        "CustomerEdge",
        "Decline",
        "Entitlement",
        "EventConnection",
        "EventEdge",
        "EventPageInfo",
        "InvoiceConnection",
        "InvoiceEdge",
        "InvoiceItemPayload",
        "InvoiceLine",
        "CreditNoteLine",
        "CreditNotePayload",
        "CreditNoteConnection",
        "CreditNoteEdge",
        "InvoicePayload",
        "InvoicePreview",
        "Money",
        "NextAction",
        "PageInfo",
        "PaymentConnection",
        "PaymentEdge",
        "PaymentEvent",
        "PaymentMethodPayload",
        "PaymentMethodSetup",
        "PaymentPayload",
        "PriceConnection",
        "PriceEdge",
        "ProductConnection",
        "ProductEdge",
        "Recurring",
        "RefundPayload",
        "StartPaymentMethodSetupPayload",
        "SubscriptionItem",
        "SubscriptionPayload",
        "TaxRatePayload",
        "TestClockPayload",
        "UpdateCustomerPayload",
        "UpdateProductPayload",
        "UserError",
        "ApiKeyConnection",
        "ApiKeyEdge",
        "ApiKeyPayload",
        "CreateApiKeyPayload",
        "AuditEventConnection",
        "AuditEventEdge",
        "CustomerSessionPayload",
        "EraseCustomerPayload",
        "ExportCustomerDataPayload",
        "CheckoutOffer",
        "ExperimentAudience",
        "ExperimentGuardrails",
        "BucketRange",
        "ExperimentResults",
        "VariantResults",
        "Comparison",
        "RateEstimate",
        "Estimate",
        "ConfidenceInterval",
        "SampleRatioCheck",
        "GuardrailCheck",
        "CupedAdjustment",
        "ExperimentPayload",
        "ExperimentConnection",
        "ExperimentEdge",
        "WebhookEndpointConnection",
        "WebhookEndpointEdge",
        "WebhookDeliveryConnection",
        "WebhookDeliveryEdge",
        "CreateWebhookEndpointPayload",
        "WebhookEndpointPayload",
        "DeleteWebhookEndpointPayload",
        "RotateWebhookEndpointSecretPayload",
        "WebhookDeliveryPayload",
        # dispute evidence
        "DisputeConnection",
        "DisputeEdge",
        "DisputeEvidence",
        "DisputeEvidenceFile",
        "DisputeEvidenceSuggestion",
        "DisputePayload",
    }
)

INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})


def policy_of(type_name: str, field_name: str) -> Policy | None:
    """The declared policy; ``None`` when undeclared (refused)."""
    return TYPES.get(type_name, {}).get(field_name)


def _reachable(document: DocumentNode, operation: OperationDefinitionNode) -> list[object]:
    """The operation and the fragments it spreads, transitively."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    seen: dict[str, FragmentDefinitionNode] = {}
    pending: list[object] = [operation]
    while pending:
        node = pending.pop()

        class Spreads(Visitor):
            def enter_fragment_spread(self, spread: FragmentSpreadNode, *_: object) -> None:
                name = spread.name.value
                if name in fragments and name not in seen:
                    seen[name] = fragments[name]
                    pending.append(fragments[name])

        visit(node, Spreads())  # type: ignore[arg-type]
    return [operation, *seen.values()]


def denied_fields(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    actor: Actor,
    *,
    introspection: bool,
) -> list[str]:
    """``Type.field`` of every selection in the operation that ``actor`` may not make."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return []
    denied: list[str] = []
    type_info = TypeInfo(schema)

    class Check(Visitor):
        def enter_field(self, node: FieldNode, *_: object) -> None:
            name = node.name.value
            parent = type_info.get_parent_type()
            if parent is None or name == "__typename" or parent.name.startswith("__"):
                return
            if name in INTROSPECTION_FIELDS:
                if not introspection:
                    denied.append(name)
                return
            if parent.name in VALUE_TYPES:
                return
            policy = policy_of(parent.name, name)
            if policy is None or actor not in policy:
                denied.append(f"{parent.name}.{name}")

    for definition in _reachable(document, operation):
        visit(definition, TypeInfoVisitor(type_info, Check()))  # type: ignore[arg-type]
    return sorted(set(denied))


class PolicyCheck:
    """:func:`denied_fields` with a cache per (document, operation, actor)."""

    def __init__(self, schema: GraphQLSchema, *, introspection: bool, size: int = 2048) -> None:
        self.schema = schema
        self.introspection = introspection
        self._check = lru_cache(maxsize=size)(self._uncached)

    def _uncached(self, query: str, operation_name: str | None, actor: Actor) -> tuple[str, ...]:
        return tuple(
            denied_fields(
                self.schema,
                parse(query),
                operation_name,
                actor,
                introspection=self.introspection,
            )
        )

    def denied(self, query: str, operation_name: str | None, actor: Actor) -> tuple[str, ...]:
        return self._check(query, operation_name, actor)


def declared_types() -> Iterable[str]:
    return [*TYPES, *VALUE_TYPES]
