"""The vocabulary of the pathway: stages, roles, checklist items and the choices clinicians pick from."""

from django.db import models


class Role(models.TextChoices):
    COORDINATOR = "coordinator", "Coordinator"
    PHYSICIAN = "physician", "Physician"
    FRONT_DESK = "front_desk", "Front desk"
    ADMIN = "admin", "Administrator"


CLINICAL_ROLES = frozenset({Role.COORDINATOR, Role.PHYSICIAN})


class Stage(models.TextChoices):
    EVALUATION = "evaluation", "Evaluation"
    TRIAL = "trial", "Trial"
    TRIAL_REVIEW = "trial_review", "Trial review"
    IMPLANT = "implant", "Implant"
    FOLLOW_UP = "follow_up", "Follow-up"
    NOT_CANDIDATE = "not_candidate", "Not a candidate"
    TRIAL_FAILED = "trial_failed", "Trial failed"
    WITHDRAWN = "withdrawn", "Withdrawn"
    EXPLANTED = "explanted", "Explanted"
    DISCHARGED = "discharged", "Discharged"


OPEN_STAGES = (Stage.EVALUATION, Stage.TRIAL, Stage.TRIAL_REVIEW, Stage.IMPLANT, Stage.FOLLOW_UP)
ENDED_STAGES = (Stage.NOT_CANDIDATE, Stage.TRIAL_FAILED, Stage.WITHDRAWN, Stage.EXPLANTED, Stage.DISCHARGED)


class EpisodeStatus(models.TextChoices):
    """What the front desk may know of a stage: whether the pathway goes on."""

    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class Diagnosis(models.TextChoices):
    POST_SURGICAL = "post_surgical", "Nerve damage after surgery"
    CRPS_1 = "crps_1", "Complex regional pain syndrome type I"
    CRPS_2 = "crps_2", "Complex regional pain syndrome type II"
    NERVE_INJURY = "nerve_injury", "Chronic nerve injury pain"
    OTHER = "other", "Other"


class PainArea(models.TextChoices):
    FOOT = "foot", "Foot"
    ANKLE = "ankle", "Ankle"
    KNEE = "knee", "Knee"
    GROIN = "groin", "Groin"
    HIP = "hip", "Hip"
    LOWER_BACK = "lower_back", "Lower back"


class Side(models.TextChoices):
    LEFT = "left", "Left"
    RIGHT = "right", "Right"
    BOTH = "both", "Both sides"


class ChecklistItemKind(models.TextChoices):
    PAIN_DURATION = "pain_duration", "Neuropathic pain for 6 months or longer"
    PRIOR_TREATMENTS = "prior_treatments", "Standard treatments tried without enough relief"
    DIAGNOSIS = "diagnosis", "Qualifying diagnosis"
    PAIN_AREA = "pain_area", "Pain in an area DRG stimulation targets"
    PSYCH_EVALUATION = "psych_evaluation", "Psychological evaluation cleared"
    IMAGING = "imaging", "Imaging reviewed"
    CONSENT = "consent", "Informed consent signed"
    TRIAL_AUTHORIZATION = "trial_authorization", "Prior authorization for the trial on file"
    BASELINE_PAIN = "baseline_pain", "Baseline pain score recorded"


class ChecklistStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    MET = "met", "Met"
    NOT_MET = "not_met", "Not met"
    WAIVED = "waived", "Waived"


class AuthorizationStep(models.TextChoices):
    """What a payer authorizes: the trial and, separately, the permanent implant."""

    TRIAL = "trial", "Trial"
    IMPLANT = "implant", "Permanent implant"


class AuthorizationStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    APPROVED = "approved", "Approved"
    DENIED = "denied", "Denied"
    APPEAL = "appeal", "Under appeal"
    EXPIRED = "expired", "Expired"


class PriorTreatment(models.TextChoices):
    MEDICATIONS = "medications", "Medications"
    INJECTIONS = "injections", "Injections"
    PHYSICAL_THERAPY = "physical_therapy", "Physical therapy"


class AbortReason(models.TextChoices):
    INFECTION = "infection", "Infection"
    LEAD_MIGRATION = "lead_migration", "Lead migration"
    INTOLERANCE = "intolerance", "Intolerance"
    OTHER = "other", "Other"


class PainPhase(models.TextChoices):
    BASELINE = "baseline", "Baseline"
    TRIAL = "trial", "Trial"
    FOLLOW_UP = "follow_up", "Follow-up"


class PainSource(models.TextChoices):
    PATIENT_LINK = "patient_link", "Patient link"
    STAFF = "staff", "Staff"
    INTEGRATION = "integration", "Integration"


class MedicationUse(models.TextChoices):
    LESS = "less", "Less than before the trial"
    SAME = "same", "Same as before"
    MORE = "more", "More than before"


class PGIC(models.IntegerChoices):
    """Patient Global Impression of Change, the standard 7-point wording (Hurst & Bolton 2004, as IMMPACT
    recommends): "Since the start of treatment, my overall status is …"."""

    VERY_MUCH_IMPROVED = 1, "Very much improved"
    MUCH_IMPROVED = 2, "Much improved"
    MINIMALLY_IMPROVED = 3, "Minimally improved"
    NO_CHANGE = 4, "No change"
    MINIMALLY_WORSE = 5, "Minimally worse"
    MUCH_WORSE = 6, "Much worse"
    VERY_MUCH_WORSE = 7, "Very much worse"


class ReliefDecider(models.TextChoices):
    NRS = "nrs", "Relief computed from NRS scores"
    PATIENT_REPORTED = "patient_reported", "Patient-reported percent relief"


class SpineFinding(models.TextChoices):
    COMPRESSION_FRACTURE = "compression_fracture", "Spinal compression fracture"
    STENOSIS = "stenosis", "Spinal narrowing (stenosis)"
    OTHER = "other", "Other spine finding"


class ReferralOutcome(models.TextChoices):
    """Where a spine-finding referral stands; it never blocks the pathway."""

    PENDING = "pending", "Awaiting the outcome"
    SEEN = "seen", "Seen, no treatment needed"
    TREATED = "treated", "Treated"
    DECLINED = "declined", "Patient declined"
    NOT_SEEN = "not_seen", "Not seen (closed)"


class Channel(models.TextChoices):
    SMS = "sms", "SMS"
    EMAIL = "email", "Email"
    NONE = "none", "No reminders"


class ConsentMethod(models.TextChoices):
    WRITTEN = "written", "Written form"
    VERBAL = "verbal", "Verbal, recorded by staff"
    PORTAL = "portal", "Patient portal"
    SMS_REPLY = "sms_reply", "SMS reply"


class AppointmentKind(models.TextChoices):
    CONSULTATION = "consultation", "Consultation"
    PSYCH_EVALUATION = "psych_evaluation", "Psychological evaluation"
    IMAGING = "imaging", "Imaging"
    TRIAL_LEAD_PLACEMENT = "trial_lead_placement", "Trial lead placement"
    TRIAL_CHECK = "trial_check", "Trial check"
    TRIAL_LEAD_REMOVAL = "trial_lead_removal", "Trial lead removal / review"
    PRE_OP = "pre_op", "Pre-op"
    IMPLANT_SURGERY = "implant_surgery", "Implant surgery"
    WOUND_CHECK = "wound_check", "Wound check"
    PROGRAMMING = "programming", "Programming"
    FOLLOW_UP = "follow_up", "Follow-up"


PROCEDURE_KINDS = frozenset(
    {
        AppointmentKind.TRIAL_LEAD_PLACEMENT,
        AppointmentKind.TRIAL_LEAD_REMOVAL,
        AppointmentKind.IMPLANT_SURGERY,
    }
)


class AppointmentStatus(models.TextChoices):
    """HL7 FHIR Appointment.status, the subset a clinic uses."""

    BOOKED = "booked", "Booked"
    ARRIVED = "arrived", "Checked in"
    FULFILLED = "fulfilled", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    NOSHOW = "noshow", "No-show"
    ENTERED_IN_ERROR = "entered-in-error", "Entered in error"


FINISHED_APPOINTMENT_STATUSES = frozenset(
    {
        AppointmentStatus.FULFILLED,
        AppointmentStatus.CANCELLED,
        AppointmentStatus.NOSHOW,
        AppointmentStatus.ENTERED_IN_ERROR,
    }
)
